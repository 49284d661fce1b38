import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import Database from "better-sqlite3";
import { request } from "undici";
import {
  CaError,
  type CaAdapter,
  type CaCapabilities,
  type CaIdentity,
  type CertificateStatus,
  type Holder,
  type IssueRequest,
  type IssuedCertificate,
  type Profile,
  type Provenance,
  type RenewRequest,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";
import { reasonForCode } from "../../core/index.js";
import { splitPem } from "../../pki/index.js";
import { certInfo, normSerial } from "../pkix.js";
import { ocspOverHttp, startLoopbackServer, type LoopbackServer } from "./loopback-http.js";
import { Keeper } from "./keeper.js";
import { freeLoopbackPort, lastLines, run, runOk, SerialQueue, startDaemon, stopDaemon } from "./process.js";

export interface CfsslOptions {
  /** Certificate lifetime in hours (default 26280: the policy's 3 years). */
  validityHours?: number;
  /** Usages per profile, in CFSSL's words (default: the policy's profiles). */
  usages?: Partial<Record<Profile, string[]>>;
  crl?: {
    /** "on-request": `cfssl gencrl` from the database for every fetch (default); "never": the CRL made at start. */
    regenerate?: "on-request" | "never";
  };
  ocsp?: {
    /** Run the ocsprefresh, ocspdump, ocspserve cycle after a revocation (default true); false: never again after start. */
    refreshAfterRevoke?: boolean;
    /** Delay before that refresh, ms (default 0): a deployment's cron interval, in small. */
    refreshDelayMs?: number;
    /** `ocsprefresh -interval`: how long pre-signed responses are declared valid (CFSSL's default 96h). */
    interval?: string;
  };
}

const DEFAULT_USAGES: Record<Profile, string[]> = {
  authentication: ["digital signature", "client auth"],
  // CFSSL of this vintage spells it "committment"; the correct spelling is silently ignored.
  signature: ["digital signature", "content committment"],
};


// CFSSL's certdb schema (certdb/sqlite migrations of the packaged version): the package ships no
// migrations, so the adapter creates the two tables itself.
const SCHEMA = `
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);
`;

interface CertRow {
  serial_number: string;
  authority_key_identifier: string;
  status: string;
  reason: number | null;
  revoked_at: string | null;
  expiry: string | null;
}

/**
 * CFSSL's errors in the seam's reason codes, so that checks judge one
 * vocabulary (`bad-csr-signature`, `unknown-serial`, `unsupported-reason`);
 * CFSSL's own code and message stay in the CaError's message (evidence).
 * CFSSL's codes are per category (9000 CSR, 11000 certdb, 400 generic), so
 * its message says which refusal it is.
 */
export function cfsslRefusal(code: number | undefined, message: string, httpStatus: number): { status: number; reason: string } {
  if (/not found/i.test(message)) return { status: 404, reason: "unknown-serial" };
  if (/invalid reason code/i.test(message)) return { status: 400, reason: "unsupported-reason" };
  if (code !== undefined && code >= 9000 && code < 10000 && /\bverification (failure|error)\b/i.test(message)) return { status: 400, reason: "bad-csr-signature" };
  return { status: httpStatus >= 500 ? 500 : 400, reason: `cfssl-${code ?? "error"}` };
}

/** CFSSL stores times as "2026-11-25 06:07:50" or with fractional seconds and "+00:00". */
function parseDbTime(s: string | null): Date | undefined {
  if (!s) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?/.exec(s);
  if (!m) return undefined;
  const frac = m[3] ? m[3].slice(0, 4) : "";
  return new Date(`${m[1]}T${m[2]}${frac}Z`);
}

/**
 * CFSSL (Debian golang-cfssl) as a CA: `cfssl serve` with a SQLite certdb for
 * sign and revoke, `cfssl gencrl` for CRLs, and OCSP by its refresh cycle
 * (`ocsprefresh` -> `ocspdump` -> `ocspserve`), everything on 127.0.0.1.
 */
export class CfsslCa implements CaAdapter {
  readonly name = "cfssl";
  private serve?: ChildProcess;
  /** Publishes the CRL at the URL the certificates name (CFSSL has no CRL server of its own). */
  private crlServer?: LoopbackServer;
  private ocspServe?: ChildProcess;
  /** Ends the daemons and removes `dir` if this process dies without close(). */
  private readonly keeper: Keeper;
  private servePort = 0;
  private ocspPort = 0;
  private db!: Database.Database;
  private rowQuery?: Database.Statement;
  private readonly meta = new Map<string, { profile: Profile; holder: Holder }>();
  private readonly refreshQueue = new SerialQueue();
  private refreshPending?: Promise<void>;
  /** Resolves when the current ocspserve is listening (it restarts on every refresh). */
  private serving: Promise<void> = Promise.resolve();
  private crlDer?: Uint8Array;
  private closed = false;
  /** `cfssl version`, as the binary said it at start. */
  private version = "";

  private constructor(
    readonly dir: string,
    private readonly opts: CfsslOptions,
  ) {
    this.keeper = Keeper.start(dir);
  }

  static async create(opts: CfsslOptions = {}): Promise<CfsslCa> {
    const ca = new CfsslCa(mkdtempSync(join(tmpdir(), "cardloop-cfssl-")), opts);
    try {
      await ca.start();
    } catch (err) {
      await ca.close();
      throw err;
    }
    return ca;
  }

  private p(name: string): string {
    return join(this.dir, name);
  }

  private async start(): Promise<void> {
    const v = await run("cfssl", ["version"]).catch(() => undefined);
    if (!v || v.code !== 0) throw new Error("cfssl is not installed (Debian package golang-cfssl)");
    this.version = v.stdout;
    await runOk("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", this.p("ca-key.pem"), "-out", this.p("ca.pem"), "-subj", "/O=cardloop/CN=cardloop CFSSL test CA", "-days", "3650",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    this.db = new Database(this.p("certs.db"));
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    writeFileSync(this.p("db.json"), JSON.stringify({ driver: "sqlite3", data_source: this.p("certs.db") }));

    this.crlServer = await startLoopbackServer({ crl: () => this.crl() });
    this.servePort = await freeLoopbackPort();
    this.ocspPort = await freeLoopbackPort();
    const hours = this.opts.validityHours ?? 26280;
    const profile = (p: Profile) => ({
      expiry: `${hours}h`,
      usages: this.opts.usages?.[p] ?? DEFAULT_USAGES[p],
      ocsp_url: `http://127.0.0.1:${this.ocspPort}`,
      crl_url: `${this.crlServer!.url}/crl`,
    });
    writeFileSync(
      this.p("config.json"),
      JSON.stringify({ signing: { default: profile("authentication"), profiles: { authentication: profile("authentication"), signature: profile("signature") } } }),
    );
    const started = await startDaemon(
      "cfssl",
      ["serve", "-address", "127.0.0.1", "-port", String(this.servePort), "-ca", this.p("ca.pem"), "-ca-key", this.p("ca-key.pem"),
        "-config", this.p("config.json"), "-db-config", this.p("db.json"), "-responder", this.p("ca.pem"), "-responder-key", this.p("ca-key.pem")],
      /Now listening on/,
      { cwd: this.dir, keeper: this.keeper },
    );
    this.serve = started.child;
    await this.refreshOcsp();
  }

  capabilities(): CaCapabilities {
    return {
      renew: true,
      hold: false,
      authorisation: false,
      cancellationCodes: false,
      cardExpiryCap: false,
      crl: true,
      ocsp: true,
      ocspGet: true,
      bulkRevoke: false,
      virtualClock: false,
      revokesAgain: true, // 1.2.0's revoke: success, new reason and time (its certdb UPDATE has no condition on the status)
    };
  }

  /** From `cfssl version` ("Version: 1.2.0", "Revision: dev", "Runtime: go1.19.8"); the URL is `cfssl serve`'s. */
  async identity(): Promise<CaIdentity> {
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "m").exec(this.version)?.[1].trim();
    const [version, revision, runtime] = [field("Version"), field("Revision"), field("Runtime")];
    const extra = [revision && `revision ${revision}`, runtime && `runtime ${runtime}`].filter(Boolean).join(", ");
    return {
      software: "CFSSL",
      ...(version ? { version: extra ? `${version} (${extra})` : version } : {}),
      url: `http://127.0.0.1:${this.servePort}`,
    };
  }

  /**
   * What CFSSL makes, and what this adapter makes for it: the renewal, and
   * the CRL, which this CFSSL cannot make from its database. File names are
   * the adapter's directory's.
   */
  provenance(): Provenance {
    const api = `http://127.0.0.1:${this.servePort}/api/v1/cfssl`;
    const sign = `POST ${api}/sign {"certificate_request": <CSR PEM>, "profile": "authentication"|"signature"}`;
    const revoke = `POST ${api}/revoke {"serial": <decimal serial>, "authority_key_id": <hex>, "reason": <reason>}`;
    const revokedSerials = `sqlite3 certs.db "SELECT serial_number FROM certificates WHERE status = 'revoked'" > revoked.txt`;
    const refresh = [
      `cfssl ocsprefresh -db-config db.json -ca ca.pem -responder ca.pem -responder-key ca-key.pem${this.opts.ocsp?.interval ? ` -interval ${this.opts.ocsp.interval}` : ""}`,
      "cfssl ocspdump -db-config db.json > responses.txt",
      `cfssl ocspserve -address 127.0.0.1 -port ${this.ocspPort} -responses responses.txt`,
    ].join("; ");
    const afterRevoke = this.opts.ocsp?.refreshAfterRevoke ?? true;
    const delay = this.opts.ocsp?.refreshDelayMs ?? 0;
    // When the adapter runs gencrl and the refresh cycle: said alike where the artefact and its publication are described.
    const gencrlRuns =
      (this.opts.crl?.regenerate ?? "on-request") === "never" ? "once, on the first fetch (crl.regenerate: never: that CRL is served unchanged after)" : "afresh for every fetch";
    const refreshRuns =
      "at start, after each signing" +
      (afterRevoke ? ` and after each revocation${delay ? ` (${delay} ms later)` : ""}` : " only (ocsp.refreshAfterRevoke: false: a revocation reaches OCSP with the next signing)");
    return {
      issuance: { by: "ca", how: sign, note: "cfssl serve records the certificate in its certdb (certs.db); it caps no validity at the card's expiry" },
      renewal: {
        by: "adapter",
        how: `${sign.replace("<CSR PEM>", "<new CSR PEM>").replace('"authentication"|"signature"', "<old certificate's profile>")}; ${revoke.replace("<reason>", '"superseded"')}`,
        note: "CFSSL has no renewal: the adapter signs the new request with the old certificate's profile, then revokes the old certificate as superseded; it asks for no proof of the old key",
      },
      revocation: { by: "ca", how: revoke },
      status: {
        by: "ca",
        how: `sqlite3 certs.db "SELECT status, reason, revoked_at, expiry FROM certificates WHERE serial_number = '<decimal serial>'"`,
        note: "CFSSL's certdb, read by the adapter: this CFSSL has no status endpoint",
      },
      crl: {
        by: "adapter",
        how: `${revokedSerials}; cfssl gencrl revoked.txt ca.pem ca-key.pem`,
        note:
          "this CFSSL (1.2.0) makes no CRL from its certdb (no `cfssl crl`, no /api/v1/cfssl/crl; /api/v1/cfssl/gencrl, like the command, takes bare serials): " +
          "the adapter lists the revoked serials, so the entries carry no reason, their revocation date is the time of generation, and the CRL has no CRL number; " +
          `made ${gencrlRuns}, served at /crl by the adapter's 127.0.0.1 front (the certificates' CRL distribution point)`,
      },
      ocsp: {
        by: "ca",
        how: refresh,
        note:
          `CFSSL's own responses, pre-signed from its certdb and served by its own responder; the adapter runs this cycle, as a deployment's cron would, ${refreshRuns}, ` +
          "and restarts ocspserve to load them; POST and GET go straight to ocspserve",
      },
      "crl-publication": {
        by: "adapter",
        how: `the adapter's gencrl, run ${gencrlRuns}`,
        note: "CFSSL publishes no CRL by itself: when a revocation reaches the CRL is the adapter's doing here",
      },
      "ocsp-publication": {
        by: "adapter",
        how: `the refresh cycle, run by the adapter ${refreshRuns}`,
        note: "ocsprefresh/ocspdump/ocspserve are CFSSL's, but when they run is the adapter's doing here, a deployment's cron in the field: propagation measured here is not the deployment's",
      },
    };
  }

  private async api(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await request(`http://127.0.0.1:${this.servePort}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const text = await res.body.text();
    let j: { success?: boolean; result?: Record<string, unknown>; errors?: Array<{ code: number; message: string }> };
    try {
      j = JSON.parse(text);
    } catch {
      throw new CaError(502, "cfssl", `cfssl answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    if (!j.success) {
      const e = j.errors?.[0];
      const message = e?.message ?? `HTTP ${res.statusCode}`;
      const { status, reason } = cfsslRefusal(e?.code, message, res.statusCode);
      throw new CaError(status, reason, `cfssl ${e?.code ?? res.statusCode}: ${message}`);
    }
    return j.result ?? {};
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const r = await this.api("/api/v1/cfssl/sign", { certificate_request: req.csrPem, profile: req.profile });
    const [pem] = splitPem(String(r.certificate ?? ""), "CERTIFICATE");
    if (!pem) throw new CaError(500, "cfssl", "cfssl sign returned no certificate");
    const info = certInfo(pem);
    this.meta.set(info.serial, { profile: req.profile, holder: req.holder });
    // The deployment runs the refresh cycle after signing, so a new certificate is known to OCSP.
    await this.refreshOcsp();
    return { serial: info.serial, certificatePem: pem, chainPem: [readFileSync(this.p("ca.pem"), "utf8")], notBefore: info.notBefore, notAfter: info.notAfter };
  }

  async renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    const s = normSerial(serial);
    const meta = this.meta.get(s);
    if (!meta || !this.row(s)) throw new CaError(404, "unknown-serial", `no certificate ${s}`);
    // CFSSL has no renewal: the adapter signs the new request and supersedes the old certificate.
    const issued = await this.issue({ csrPem: req.csrPem, profile: meta.profile, holder: meta.holder, cardExpiry: req.cardExpiry });
    await this.revoke({ serial: s, reason: "superseded", role: "operator" });
    return issued;
  }

  /**
   * CFSSL stores serial_number as the decimal serial in TEXT (in a column
   * declared blob, which converts nothing): compared with a bound string as
   * it is, the lookup uses the primary key's index; a CAST would scan the table.
   */
  private row(serial: string): CertRow | undefined {
    const dec = BigInt("0x" + normSerial(serial)).toString(10);
    this.rowQuery ??= this.db.prepare(
      "SELECT CAST(serial_number AS TEXT) AS serial_number, CAST(authority_key_identifier AS TEXT) AS authority_key_identifier, CAST(status AS TEXT) AS status, reason, revoked_at, expiry FROM certificates WHERE serial_number = ?",
    );
    return this.rowQuery.get(dec) as CertRow | undefined;
  }

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    const s = normSerial(req.serial);
    const row = this.row(s);
    // cfssl looks the serial up itself; an unknown one is its own "certificate not found"
    await this.api("/api/v1/cfssl/revoke", {
      serial: row?.serial_number ?? BigInt("0x" + s).toString(10),
      authority_key_id: row?.authority_key_identifier ?? "",
      reason: req.reason.toLowerCase(),
    });
    const after = this.row(s);
    if (!after || after.status !== "revoked") throw new CaError(500, "cfssl", "cfssl acknowledged but did not record the revocation");
    if (this.opts.ocsp?.refreshAfterRevoke ?? true) {
      const delay = this.opts.ocsp?.refreshDelayMs ?? 0;
      setTimeout(() => void this.refreshOcsp().catch(() => undefined), delay);
    }
    return { serial: s, status: "revoked", reason: reasonForCode(after.reason ?? 0) ?? "unspecified", revokedAt: parseDbTime(after.revoked_at)! };
  }

  async release(serial: string): Promise<void> {
    throw new CaError(400, "not-offered", `cfssl cannot release ${serial} from hold`);
  }

  async status(serial: string): Promise<CertificateStatus> {
    const s = normSerial(serial);
    const row = this.row(s);
    if (!row) return { serial: s, status: "unknown" };
    const notAfter = parseDbTime(row.expiry);
    if (row.status !== "revoked") return { serial: s, status: "good", notAfter };
    return { serial: s, status: "revoked", reason: reasonForCode(row.reason ?? 0), revokedAt: parseDbTime(row.revoked_at), notAfter };
  }

  async crl(): Promise<Uint8Array> {
    if (this.crlDer && (this.opts.crl?.regenerate ?? "on-request") === "never") return this.crlDer;
    // CFSSL's gencrl takes a list of serials: the revoked ones from its own database.
    const serials = (this.db.prepare("SELECT CAST(serial_number AS TEXT) AS s FROM certificates WHERE CAST(status AS TEXT) = 'revoked'").all() as Array<{ s: string }>).map((r) => r.s);
    writeFileSync(this.p("revoked.txt"), serials.join("\n") + (serials.length ? "\n" : ""));
    const r = await run("cfssl", ["gencrl", this.p("revoked.txt"), this.p("ca.pem"), this.p("ca-key.pem")]);
    const b64 = r.stdout.trim();
    if (r.code !== 0 || !b64) throw new CaError(500, "cfssl", `cfssl gencrl failed: ${lastLines(r.stderr)}`);
    this.crlDer = new Uint8Array(Buffer.from(b64, "base64"));
    return this.crlDer;
  }

  /** ocsprefresh -> ocspdump -> restart ocspserve; concurrent callers share the next cycle. */
  private refreshOcsp(): Promise<void> {
    if (this.refreshPending) return this.refreshPending;
    const cycle = this.refreshQueue.push(async () => {
      this.refreshPending = undefined;
      if (this.closed) return;
      await runOk("cfssl", [
        "ocsprefresh", "-db-config", this.p("db.json"), "-ca", this.p("ca.pem"), "-responder", this.p("ca.pem"), "-responder-key", this.p("ca-key.pem"),
        ...(this.opts.ocsp?.interval ? ["-interval", this.opts.ocsp.interval] : []),
      ]);
      const dump = await runOk("cfssl", ["ocspdump", "-db-config", this.p("db.json")]);
      writeFileSync(this.p("responses.txt"), dump.stdout);
      if (this.closed) return;
      let ready!: () => void;
      this.serving = new Promise((r) => (ready = r));
      try {
        await stopDaemon(this.ocspServe);
        if (this.closed) return;
        const d = await startDaemon("cfssl", ["ocspserve", "-address", "127.0.0.1", "-port", String(this.ocspPort), "-responses", this.p("responses.txt")], /Now listening on/, { cwd: this.dir, keeper: this.keeper });
        this.ocspServe = d.child;
      } finally {
        ready();
      }
    });
    this.refreshPending = cycle;
    return cycle;
  }

  async ocsp(req: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
    // ocspserve restarts to load new responses: requests go to the live one, and one cut off
    // by a restart is sent again (a deployment would switch responders without a gap).
    for (let attempt = 0; ; attempt++) {
      await this.serving;
      try {
        return await ocspOverHttp(`http://127.0.0.1:${this.ocspPort}`, req, method);
      } catch (err) {
        const transport = !(err instanceof CaError);
        if (!transport || attempt >= 3 || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async anchors(): Promise<string[]> {
    return [readFileSync(this.p("ca.pem"), "utf8")];
  }

  async close(): Promise<void> {
    this.closed = true;
    // wait out a refresh cycle in progress, so that it cannot start a responder after we stopped it
    await this.refreshQueue.push(async () => undefined);
    await stopDaemon(this.ocspServe);
    await stopDaemon(this.serve);
    await this.crlServer?.close();
    try {
      this.db?.close();
    } catch {
      /* already closed */
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.keeper.end();
  }
}
