import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { SystemClock, UsageError, VirtualClock, errorMessage, type RenewalRule } from "../core/index.js";
import { loadPolicy, resolvePolicyRef } from "../policies/index.js";
import { action, listenError, untilStopSignal, usage } from "./exit.js";

interface ServeOptions {
  data: string;
  port: string;
  host: string;
  virtualClock: boolean;
  hsm: boolean;
  keyType: string;
  publicUrl?: string;
  trustedProxy?: string[];
  policy: string;
  maxFailedAttempts?: string;
  renewal?: string;
  maxRequestsPerClient?: string;
  maxConnectionsPerClient?: string;
}

/** The CLI's words for the renewal policies. */
const RENEWAL = new Map<string, RenewalRule>([
  ["supersede", "revoke-superseded"],
  ["keep", "keep-until-expiry"],
]);

/** `cardloop ca serve`: the embedded reference CA over HTTP. */
export function register(program: Command): void {
  const ca = program.command("ca").description("the embedded reference CA");
  ca.command("serve")
    .description("serve the embedded CA over HTTP (creates it in --data on first start); prints its base URL")
    .requiredOption("--data <dir>", "the CA's data directory")
    .option("--port <port>", "TCP port (0: any free port)", "8440")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--virtual-clock", "enable POST /api/v1/clock to move the CA's clock", false)
    .option("--hsm", "keep the issuing CA key in SoftHSMv2 (first start only)", false)
    .option("--key-type <type>", "ec (P-256) or rsa, for a new CA", "ec")
    .option("--public-url <url>", "base URL written into certificates (default: the listening address)")
    .option("--trusted-proxy <address...>", "a reverse proxy (TLS terminator) whose X-Forwarded-For names the client: per-client limits, the lockout and the audit then count real clients, not the proxy")
    .option("--policy <file>", "lifecycle policy file (YAML), or a shipped one by name (default, ocsp): lifetime, card-expiry cap, lockout, renewal, reasons per role", "default")
    .option("--max-failed-attempts <n>", "wrong revocation credentials from one source before it must wait (429, doubling); overrides the policy's (default policy: 5)")
    .option("--renewal <policy>", "supersede (revoke the old certificate as superseded) or keep (valid until it expires); overrides the policy's (default policy: supersede)")
    .option("--max-requests-per-client <n>", "requests one client address may have open at once, OCSP included (default 16; raise it for one load-test agent)")
    .option("--max-connections-per-client <n>", "connections one client address may hold at once (default 128; raise it for one load-test agent)")
    .action(
      action(async (o: ServeOptions) => {
        const port = Number(o.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be 0..65535 (got ${o.port})`);
        if (o.keyType !== "ec" && o.keyType !== "rsa") usage(`--key-type must be ec or rsa (got ${o.keyType})`);
        const maxFailedAttempts = o.maxFailedAttempts === undefined ? undefined : attempts(o.maxFailedAttempts);
        const renewal = o.renewal === undefined ? undefined : RENEWAL.get(o.renewal);
        if (o.renewal !== undefined && !renewal) usage(`--renewal must be supersede or keep (got ${o.renewal})`);
        const limits = {
          ...(o.maxRequestsPerClient === undefined ? {} : { requestsPerClient: perClient("--max-requests-per-client", o.maxRequestsPerClient) }),
          ...(o.maxConnectionsPerClient === undefined ? {} : { connectionsPerClient: perClient("--max-connections-per-client", o.maxConnectionsPerClient) }),
        };
        const policy = loadPolicy(resolvePolicyRef(o.policy, process.cwd()));
        const { DataDirLockedError, EmbeddedCa, startCaServer } = await import("../simulator/ca/index.js");
        // CLI wiring may read the wall clock: a virtual clock starts at "now".
        const clock = o.virtualClock ? new VirtualClock(Date.now()) : new SystemClock();
        if (o.publicUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(o.publicUrl)) usage(`--public-url must be an http(s) URL (got ${o.publicUrl})`);
        for (const a of o.trustedProxy ?? []) if (isIP(a) === 0) usage(`--trusted-proxy takes an IP address (got ${a})`);
        if (existsSync(o.data) && !statSync(o.data).isDirectory()) usage(`--data ${o.data}: not a directory`);
        let embedded;
        try {
          embedded = await EmbeddedCa.open({ dataDir: o.data, clock, keyType: o.keyType, hsm: o.hsm || undefined, policy, maxFailedAttempts, renewal });
        } catch (err) {
          // One writer per data directory: the error's message is the line, naming the running CA's pid.
          if (err instanceof DataDirLockedError) throw new UsageError(err.message);
          throw new UsageError(`cannot open the CA in ${o.data}: ${errorMessage(err)}`);
        }
        let server;
        try {
          server = await startCaServer(embedded, { port, host: o.host, virtualClock: o.virtualClock, publicUrl: o.publicUrl, trustedProxies: o.trustedProxy, limits });
        } catch (err) {
          await embedded.close();
          throw listenError(err, o.host, port);
        }
        process.stdout.write(`${server.url}\n`);
        await untilStopSignal();
        await server.close();
        await embedded.close();
      }),
    );

  ca.command("token")
    .description("rotate a role's token: prints the new token once on stdout (only its hash is kept); refused while a CA serves the directory")
    .requiredOption("--data <dir>", "the CA's data directory")
    .requiredOption("--role <role>", "operator or ra (the issuing station)")
    .action(
      action(async (o: { data: string; role: string }) => {
        const { DataDirLockedError, rotateToken, TOKEN_ROLES } = await import("../simulator/ca/index.js");
        const role = TOKEN_ROLES.find((r) => r === o.role);
        if (!role) usage(`--role must be operator or ra (got ${o.role})`);
        if (!existsSync(o.data) || !statSync(o.data).isDirectory()) usage(`--data ${o.data}: not a directory`);
        let token: string;
        try {
          token = await rotateToken(o.data, role);
        } catch (err) {
          // A running CA keeps the hashes it read at open: rotating under it would not take effect until its restart.
          if (err instanceof DataDirLockedError) throw new UsageError(`${err.message}; stop it before rotating a token`);
          throw new UsageError(`cannot rotate the ${role} token in ${o.data}: ${errorMessage(err)}`);
        }
        process.stdout.write(`${token}\n`);
      }),
    );
}

/** Whole digits only: Number("") is 0 and Number("1e3") is 1000, neither what the user typed. */
function attempts(text: string): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1)) usage(`--max-failed-attempts must be a whole number from 1 (got ${text})`);
  return n;
}

/** A per-client limit: whole digits, 1 to 100,000 (a load agent needs hundreds, not millions). */
function perClient(flag: string, text: string): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 100_000)) usage(`${flag} must be a whole number from 1 to 100000 (got ${text})`);
  return n;
}
