import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Clock } from "../../core/index.js";
import { errorResponse, OcspStatus } from "../../pki/index.js";
import {
  CaError,
  type BulkRevocationResult,
  type CertificateStatus,
  type IssuedCertificate,
  type IssueRequest,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "./api.js";
import type { AuditEntry } from "./store.js";

/**
 * The CA's HTTP face (express 5) over a CaHttpBackend (an EmbeddedCa). OCSP is answered by a
 * bare node handler in front of express: it is the hot path (tens of
 * thousands of requests per second) and needs none of express's machinery.
 *
 * Operator actions (bulk revocation, release from hold, unlock, audit) need
 * `Authorization: Bearer <operator token>`.
 */
/** What the HTTP layer needs of a CA: EmbeddedCa is one; a test can serve anything shaped like it. */
export interface CaHttpBackend {
  /** Read for GET /api/v1/clock; moved by POST /api/v1/clock when it is a VirtualClock and the server allows it. */
  readonly clock: Clock;
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  renewalChallenge(serial: string): Promise<RenewalChallenge>;
  renew(serial: string, req: RenewRequest): Promise<IssuedCertificate>;
  revoke(req: RevokeRequest): Promise<RevocationResult>;
  revokeMany(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult>;
  /** Trusted: the server checks the operator token first. */
  release(serial: string): Promise<void>;
  unlock(serial: string, operatorToken: string): Promise<void>;
  status(serial: string): Promise<CertificateStatus>;
  certificatePem(serial: string): string | undefined;
  audit(serial?: string): AuditEntry[];
  /** Whether `token` is the operator's (constant time). */
  checkToken(token: unknown): boolean;
  currentCrl(): Uint8Array;
  rootCrl(): Uint8Array;
  /** Issuing CA first, root last. */
  chainPem(): string[];
  /** DER in, DER out, synchronously; never throws (the hot path). */
  answerOcsp(request: Uint8Array): Uint8Array;
  /** The base URL the CA is reached at, for the URLs it writes into certificates. */
  serveAt(url: string): void;
}

export interface CaServerOptions {
  host?: string;
  port?: number;
  /** Enables POST /api/v1/clock (the CA's clock must be a VirtualClock). */
  virtualClock?: boolean;
  /** Base URL for AIA/CDP if it differs from the listening address (behind a proxy). */
  publicUrl?: string;
}

export interface CaServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const MAX_OCSP_REQUEST = 64 * 1024;
/** The largest time a JavaScript Date can hold (ECMA-262 21.4.1.1). */
const MAX_DATE_MS = 8.64e15;

export async function startCaServer(ca: CaHttpBackend, opts: CaServerOptions = {}): Promise<CaServer> {
  const app = buildApp(ca, opts);
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/ocsp" || url.startsWith("/ocsp/") || url.startsWith("/ocsp?")) return handleOcsp(ca, req, res);
    app(req, res);
  });
  server.keepAliveTimeout = 65_000;
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The OCSP hot path: plain node:http, no closures beyond the body's (see bench/ca-ocsp.bench.ts). */
function handleOcsp(ca: CaHttpBackend, req: IncomingMessage, res: ServerResponse): void {
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_OCSP_REQUEST) chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_OCSP_REQUEST) return sendOcsp(res, errorResponse(OcspStatus.malformedRequest));
      sendOcsp(res, ca.answerOcsp(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    });
    req.on("error", () => res.destroy());
    return;
  }
  if (req.method === "GET") {
    const path = (req.url ?? "").slice("/ocsp/".length).split("?")[0];
    let der: Buffer;
    try {
      // RFC 6960 A.1: base64 of the DER request, then URL-encoded. Accept the url-safe alphabet too.
      der = Buffer.from(decodeURIComponent(path).replace(/-/g, "+").replace(/_/g, "/"), "base64");
    } catch {
      return sendOcsp(res, errorResponse(OcspStatus.malformedRequest));
    }
    return sendOcsp(res, ca.answerOcsp(der));
  }
  res.writeHead(405, { "content-type": "application/json", allow: "GET, POST" });
  res.end(JSON.stringify({ error: "method-not-allowed", message: "OCSP accepts GET and POST" }));
}

function sendOcsp(res: ServerResponse, body: Uint8Array): void {
  res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": body.length });
  res.end(body);
}

function buildApp(ca: CaHttpBackend, opts: CaServerOptions) {
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "64mb" }));

  const token = (req: Request): string => {
    const h = req.get("authorization") ?? "";
    return h.startsWith("Bearer ") ? h.slice(7).trim() : "";
  };
  const requireOperator = (req: Request) => {
    if (!ca.checkToken(token(req))) throw new CaError(403, "forbidden", "a valid operator token is required (Authorization: Bearer ...)");
  };
  const body = (req: Request): Record<string, unknown> => {
    const b = req.body as unknown;
    if (b === undefined) return {};
    if (!b || typeof b !== "object" || Array.isArray(b)) throw new CaError(400, "bad-request", "the body must be a JSON object");
    return b as Record<string, unknown>;
  };
  const issuedJson = (r: IssuedCertificate) => ({
    serial: r.serial,
    certificate: r.certificatePem,
    chain: r.chainPem,
    notBefore: r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    ...(r.cancellationCodes ? { cancellationCodes: r.cancellationCodes } : {}),
  });

  app.post("/api/v1/certificates", async (req, res) => {
    const b = body(req);
    const r = await ca.issue({
      csrPem: b.csr as string,
      profile: b.profile as never,
      holder: b.holder as never,
      cardExpiry: b.cardExpiry === undefined ? undefined : (b.cardExpiry as never),
    });
    res.status(201).json(issuedJson(r));
  });

  // A single-use challenge the card signs with the old key before renewal (see the CA's README).
  app.post("/api/v1/certificates/:serial/renewal-challenge", async (req, res) => {
    const c = await ca.renewalChallenge(String(req.params.serial));
    res.status(201).json({ serial: c.serial, challenge: c.challenge, expiresAt: c.expiresAt.toISOString() });
  });

  // Authorised by {challenge, proof (base64)} or by the operator token (Authorization: Bearer).
  app.post("/api/v1/certificates/:serial/renew", async (req, res) => {
    const b = body(req);
    const operatorToken = token(req);
    const r = await ca.renew(String(req.params.serial), {
      csrPem: b.csr as string,
      cardExpiry: b.cardExpiry as never,
      challenge: b.challenge as never,
      proof: b.proof === undefined ? undefined : base64Bytes(b.proof),
      operatorToken: operatorToken === "" ? undefined : operatorToken,
    });
    res.status(201).json(issuedJson(r));
  });

  app.post("/api/v1/certificates/:serial/revoke", async (req, res) => {
    const b = body(req);
    const r = await ca.revoke({
      serial: String(req.params.serial),
      reason: b.reason as never,
      role: b.role as never,
      code: b.code as string | undefined,
      email: b.email as string | undefined,
      name: b.name as string | undefined,
      answers: b.answers as Record<string, string> | undefined,
    });
    res.json({ serial: r.serial, status: r.status, reason: r.reason, revokedAt: r.revokedAt.toISOString() });
  });

  app.post("/api/v1/certificates/:serial/release", async (req, res) => {
    requireOperator(req);
    await ca.release(String(req.params.serial));
    res.json(await statusJson(ca, String(req.params.serial)));
  });

  app.post("/api/v1/certificates/:serial/unlock", async (req, res) => {
    await ca.unlock(String(req.params.serial), token(req));
    res.json(await statusJson(ca, String(req.params.serial)));
  });

  app.get("/api/v1/certificates/:serial", async (req, res) => {
    const s = await statusJson(ca, String(req.params.serial));
    if (s.status === "unknown") throw new CaError(404, "not-found", `no certificate with serial ${s.serial}`);
    const pem = ca.certificatePem(s.serial);
    res.json(pem ? { ...s, certificate: pem } : s);
  });

  app.get("/api/v1/certificates/:serial/audit", (req, res) => {
    requireOperator(req);
    res.json(ca.audit(String(req.params.serial).toLowerCase()).map((e) => ({ ...e, at: new Date(e.at).toISOString() })));
  });

  app.post("/api/v1/revocations", async (req, res) => {
    const b = body(req);
    const r = await ca.revokeMany(b.serials as string[], b.reason as never, token(req));
    res.json({ revoked: r.revoked, revokedAt: r.revokedAt.toISOString(), unknown: r.unknown, alreadyRevoked: r.alreadyRevoked });
  });

  app.get("/crl", (_req, res) => {
    res.type("application/pkix-crl").send(ca.currentCrl());
  });

  // The root's CRL (ARL), named by the issuing CA certificate's CRL distribution point.
  app.get("/crl/root", (_req, res) => {
    res.type("application/pkix-crl").send(ca.rootCrl());
  });

  app.get("/ca", async (_req, res) => {
    res.type("application/pem-certificate-chain").send(ca.chainPem().join(""));
  });

  if (opts.virtualClock) {
    app.post("/api/v1/clock", (req, res) => {
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
  app.get("/api/v1/clock", (_req, res) => {
    res.json({ now: ca.clock.now().toISOString(), virtual: !!opts.virtualClock });
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: "not-found", message: "no such endpoint" });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof CaError) return res.status(err.status).json({ error: err.reason, message: err.message });
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === "entity.parse.failed") return res.status(400).json({ error: "bad-json", message: "the body is not valid JSON" });
    if (e?.type === "entity.too.large") return res.status(413).json({ error: "too-large", message: "the body is too large" });
    if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
      return res.status(e.status).json({ error: "bad-request", message: e.message ?? "bad request" });
    }
    res.status(500).json({ error: "internal", message: "internal error" });
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
