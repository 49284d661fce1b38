import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { finished } from "node:stream";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Clock } from "../../core/index.js";
import {
  CaError,
  EMBEDDED_CA_SOFTWARE,
  type BulkRevocationResult,
  type Caller,
  type CertificateStatus,
  type IssuedCertificate,
  type IssueRequest,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "./api.js";
import { readJsonObject } from "./http-body.js";
import { bearer, errorAnswer, refuse, sendJson } from "./http-answers.js";
import { clientAddress, trustedProxySet } from "./client-address.js";
import type { CredentialAction } from "./credentials.js";
import { ClientGate, httpLimits, type HttpLimits } from "./http-limits.js";
import { handleOcsp } from "./http-ocsp.js";
import { revokeRoutes, type RevokeRoutes } from "./http-revoke.js";
import { issuedJson, issueRequestOf, issueRoutes, type IssueRoutes } from "./http-issue.js";
import type { AuditEntry } from "./store.js";

/**
 * The CA's HTTP face (express 5) over a CaHttpBackend (an EmbeddedCa). OCSP,
 * revocation (single and bulk) and bulk issuance are answered by bare node handlers in
 * front of express (http-ocsp.ts, http-revoke.ts, http-issue.ts): they are the hot paths
 * (tens of thousands of requests per second) and need none of express's
 * machinery; their express routes stay behind them, for any URL shape the
 * bare handler leaves to express.
 *
 * Credentials are bearer tokens (`Authorization: Bearer <token>`): the
 * issuing station's (RA) to issue, the operator's for release, unlock, audit
 * and bulk revocation; both are checked before the body is read. Revocation
 * and renewal pass a bearer (if any) on as the operator token; the CA checks
 * it there, with the rest of the request. Every limit (http-limits.ts) is
 * checked before the work it protects.
 */
/** What the HTTP layer needs of a CA: EmbeddedCa is one; a test can serve anything shaped like it. */
export interface CaHttpBackend {
  /** Read for GET /api/v1/clock; moved by POST /api/v1/clock when it is a VirtualClock and the server allows it. */
  readonly clock: Clock;
  /** `caller`: where the request came from ("ip:<address>"), for counting wrong credentials per source. */
  issue(req: IssueRequest, caller?: Caller): Promise<IssuedCertificate>;
  /** POST /api/v1/certificates/batch (http-issue.ts): one result per request; absent, the route is not served. */
  issueMany?(reqs: IssueRequest[], caller?: Caller): Promise<Array<IssuedCertificate | CaError>>;
  renewalChallenge(serial: string): Promise<RenewalChallenge>;
  renew(serial: string, req: RenewRequest, caller?: Caller): Promise<IssuedCertificate>;
  revoke(req: RevokeRequest, caller?: Caller): Promise<RevocationResult>;
  revokeMany(serials: string[], reason: RevocationReason, operatorToken: string, caller?: Caller): Promise<BulkRevocationResult>;
  release(serial: string, operatorToken?: string, caller?: Caller): Promise<void>;
  unlock(serial: string, operatorToken: string, caller?: Caller): Promise<void>;
  status(serial: string): Promise<CertificateStatus>;
  certificatePem(serial: string): string | undefined;
  /** Trusted: the server checks the operator token first. */
  audit(serial?: string): AuditEntry[];
  /** Whose credential a bearer token is (constant time); undefined for anything that is not a valid token. */
  /** Throws 401/403 (audited) unless `token` is `role`'s: checked before a body is read. */
  authenticate(token: unknown, role: "operator" | "ra", action: CredentialAction, caller?: Caller): void;
  currentCrl(): Uint8Array;
  /**
   * GET /crl's: a CRL including every change before the call, built without
   * holding the event loop, lent until `release` (when absent, currentCrl()).
   */
  servedCrl?(): Promise<{ der: Uint8Array; release(): void }>;
  rootCrl(): Uint8Array;
  /** Issuing CA first, root last. */
  chainPem(): string[];
  /** DER in, DER out; never throws (the hot path). Synchronous when cached; a promise (never rejected) when signed off the event loop. */
  answerOcsp(request: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** The base URL the CA is reached at, for the URLs it writes into certificates. */
  serveAt(url: string): void;
}

export interface CaServerOptions {
  host?: string;
  port?: number;
  /** Enables POST /api/v1/clock, with the operator's token (the CA's clock must be a VirtualClock). */
  virtualClock?: boolean;
  /** Base URL for AIA/CDP if it differs from the listening address (behind a proxy). */
  publicUrl?: string;
  /** Overrides of DEFAULT_HTTP_LIMITS (tests shorten the timeouts). */
  limits?: Partial<HttpLimits>;
  /**
   * Addresses of reverse proxies (a TLS terminator) whose X-Forwarded-For is
   * believed: behind one, every per-source limit would otherwise count the
   * whole world as one client (client-address.ts).
   */
  trustedProxies?: readonly string[];
}

export interface CaServer {
  url: string;
  server: Server;
  /** The limits in force. */
  limits: HttpLimits;
  close(): Promise<void>;
}

/** The largest time a JavaScript Date can hold (ECMA-262 21.4.1.1). */
const MAX_DATE_MS = 8.64e15;

export async function startCaServer(ca: CaHttpBackend, opts: CaServerOptions = {}): Promise<CaServer> {
  const limits = httpLimits(opts.limits);
  const gate = new ClientGate(limits);
  const trusted = trustedProxySet(opts.trustedProxies);
  const revocations = revokeRoutes(ca, limits, gate);
  const issuances = ca.issueMany ? issueRoutes({ authenticate: ca.authenticate.bind(ca), issueMany: ca.issueMany.bind(ca) }, limits, gate) : undefined;
  const app = buildApp(ca, opts, limits, gate, revocations, issuances);
  const answerOcsp = (der: Uint8Array) => ca.answerOcsp(der);
  const server = createServer(
    {
      // Slowloris: node answers 408 and closes a connection whose headers or whole request take longer.
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often node looks for requests past those timeouts (its default, 30 s, would stretch them).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    (req, res) => {
      // Who sent it, once, for every per-source limit; every request, OCSP included, holds one of its client's slots.
      const client = clientAddress(req, trusted);
      (req as Attributed)[CLIENT] = client;
      if (!gate.enter(client, res)) {
        return refuse(req, res, 429, { "retry-after": "1" }, "too-many-requests", `at most ${limits.requestsPerClient} requests at once per client`);
      }
      const url = req.url ?? "/";
      if (url === "/ocsp" || url.startsWith("/ocsp/") || url.startsWith("/ocsp?")) return handleOcsp(answerOcsp, req, res);
      // Revocations (single and bulk) are the load test's hot path too: same rules, without express (http-revoke.ts).
      if (revocations.route(req, res, { source: client })) return;
      if (issuances?.route(req, res, { source: client })) return;
      app(req, res);
    },
  );
  server.on("connection", (socket) => gate.admitConnection(socket, trusted.has(socket.remoteAddress ?? "")));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8440, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  ca.serveAt(opts.publicUrl ?? url);
  return {
    url,
    server,
    limits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Where the request came from, for the CA's per-source counting. */
const CLIENT = Symbol("cardloop.client");
type Attributed = IncomingMessage & { [CLIENT]?: string };

/** The source every limit counts under, as the request handler attributed it (client-address.ts). */
function callerOf(req: Request): Caller {
  return { source: (req as Attributed)[CLIENT] ?? "ip:unknown" };
}

function buildApp(ca: CaHttpBackend, opts: CaServerOptions, limits: HttpLimits, gate: ClientGate, revocations: RevokeRoutes, issuances?: IssueRoutes) {
  const app = express();
  app.disable("x-powered-by");

  /** The route's credential, checked (and a refusal audited) by the CA before the body is read. */
  const needs = (role: "ra" | "operator", action: CredentialAction) => (req: Request, _res: Response, next: NextFunction) => {
    ca.authenticate(bearer(req), role, action, callerOf(req));
    next();
  };
  /** The body, read within `max` bytes (and the limits of http-body.ts), as a JSON object. */
  /** `authenticated`: the route checked a credential first, so the body may take its declared size from the budget at once. */
  const json = (max: number, authenticated = false) => async (req: Request, _res: Response, next: NextFunction) => {
    req.body = await readJsonObject(req, max, gate, limits.jsonDepth, authenticated);
    next();
  };
  const body = (req: Request) => req.body as Record<string, unknown>;
  const csrBody = json(limits.csrBodyBytes);
  const smallBody = json(limits.smallBodyBytes);
  const serialOf = (req: Request) => String(req.params.serial);

  app.post("/api/v1/certificates", needs("ra", "issue"), json(limits.csrBodyBytes, true), async (req, res) => {
    const b = body(req);
    const r = await ca.issue(issueRequestOf(b, bearer(req)), callerOf(req));
    sendJson(res, 201, issuedJson(r));
  });

  if (issuances) app.post("/api/v1/certificates/batch", (req, res) => issuances.batch(req, res, callerOf(req)));

  // A single-use challenge the card signs with the old key before renewal (see the CA's README).
  app.post("/api/v1/certificates/:serial/renewal-challenge", smallBody, async (req, res) => {
    const c = await ca.renewalChallenge(serialOf(req));
    res.status(201).json({ serial: c.serial, challenge: c.challenge, expiresAt: c.expiresAt.toISOString() });
  });

  // Authorised by {challenge, proof (base64)} or by the operator token (Authorization: Bearer).
  app.post("/api/v1/certificates/:serial/renew", csrBody, async (req, res) => {
    const b = body(req);
    const r = await ca.renew(
      serialOf(req),
      {
        csrPem: b.csr as string,
        cardExpiry: b.cardExpiry as never,
        challenge: b.challenge as never,
        proof: b.proof === undefined ? undefined : base64Bytes(b.proof),
        operatorToken: bearer(req),
      },
      callerOf(req),
    );
    res.status(201).json(issuedJson(r));
  });

  // Served in front of express (http-revoke.ts); here only for URL shapes that handler leaves to express.
  app.post("/api/v1/certificates/:serial/revoke", (req, res) => revocations.single(serialOf(req), req, res, callerOf(req)));

  app.post("/api/v1/certificates/:serial/release", needs("operator", "release"), smallBody, async (req, res) => {
    await ca.release(serialOf(req), bearer(req), callerOf(req));
    res.json(await statusJson(ca, serialOf(req)));
  });

  app.post("/api/v1/certificates/:serial/unlock", needs("operator", "unlock"), smallBody, async (req, res) => {
    await ca.unlock(serialOf(req), bearer(req)!, callerOf(req));
    res.json(await statusJson(ca, serialOf(req)));
  });

  app.get("/api/v1/certificates/:serial", async (req, res) => {
    const s = await statusJson(ca, serialOf(req));
    if (s.status === "unknown") throw new CaError(404, "not-found", `no certificate with serial ${s.serial}`);
    const pem = ca.certificatePem(s.serial);
    res.json(pem ? { ...s, certificate: pem } : s);
  });

  app.get("/api/v1/certificates/:serial/audit", needs("operator", "audit"), (req, res) => {
    res.json(ca.audit(serialOf(req).toLowerCase()).map((e) => ({ ...e, at: new Date(e.at).toISOString() })));
  });

  app.post("/api/v1/revocations", (req, res) => revocations.bulk(req, res, callerOf(req)));

  // Built off the event loop when the CA can (servedCrl); concurrent GETs share one build. Sent as is: express's
  // send() would hash all ~50 MB of a million-entry CRL on the event loop for an ETag.
  app.get("/crl", async (_req, res) => {
    const lent = ca.servedCrl ? await ca.servedCrl() : { der: ca.currentCrl(), release: () => undefined };
    // Its buffer is reused for a later CRL only after this response is written out or its connection is gone.
    // finished() calls back also for a response whose connection closed during the build ("close" already fired:
    // res.once("close") would never release it, and the buffer would stay leased for good: review R1 B1).
    finished(res, () => lent.release());
    res.writeHead(200, { "content-type": "application/pkix-crl", "content-length": lent.der.length });
    res.end(lent.der);
  });

  // The root's CRL (ARL), named by the issuing CA certificate's CRL distribution point.
  app.get("/crl/root", (_req, res) => {
    res.type("application/pkix-crl").send(ca.rootCrl());
  });

  app.get("/ca", async (_req, res) => {
    res.type("application/pem-certificate-chain").send(ca.chainPem().join(""));
  });

  if (opts.virtualClock) {
    // Moving the CA's time expires certificates: an operator's action, even on a test CA.
    app.post("/api/v1/clock", needs("operator", "clock"), smallBody, (req, res) => {
      const b = body(req);
      const clock = ca.clock as { set?: (d: Date) => void; advance(ms: number): void; now(): Date };
      // Compute the target first and check it is a time a Date can hold: the clock is moved only to a usable time.
      const now = clock.now().getTime();
      let target: number;
      if (typeof b.advanceMs === "number" && Number.isSafeInteger(b.advanceMs)) target = now + b.advanceMs;
      else if (typeof b.to === "string" && clock.set) target = new Date(b.to).getTime();
      else throw new CaError(400, "bad-request", 'give {"advanceMs": whole milliseconds} or {"to": ISO time}');
      if (!Number.isFinite(target) || Math.abs(target) > MAX_DATE_MS) throw new CaError(400, "bad-clock", "that is not a valid time");
      if (target < now) throw new CaError(400, "bad-clock", `a clock only moves forward (it is ${new Date(now).toISOString()})`);
      clock.advance(target - now);
      res.json({ now: clock.now().toISOString() });
    });
  }
  // What answers here, for a client's reports (certify's identity of the CA): public, read-only, the same for everyone.
  app.get("/api/v1/info", (_req, res) => {
    res.json(EMBEDDED_CA_SOFTWARE);
  });
  app.get("/api/v1/clock", (_req, res) => {
    res.json({ now: ca.clock.now().toISOString(), virtual: !!opts.virtualClock });
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: "not-found", message: "no such endpoint" });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const a = errorAnswer(err);
    refuse(req, res, a.status, a.headers, a.error, a.message);
  });
  return app;
}

/** Strict base64 (either alphabet) to bytes; anything else becomes an empty proof, which the CA refuses (403). */
function base64Bytes(v: unknown): Uint8Array {
  if (typeof v !== "string" || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) return new Uint8Array(0);
  return new Uint8Array(Buffer.from(v.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

async function statusJson(ca: CaHttpBackend, serial: string) {
  const s = await ca.status(serial);
  return {
    serial: s.serial,
    status: s.status,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.revokedAt ? { revokedAt: s.revokedAt.toISOString() } : {}),
    ...(s.notBefore ? { notBefore: s.notBefore.toISOString() } : {}),
    ...(s.notAfter ? { notAfter: s.notAfter.toISOString() } : {}),
  };
}
