import { Pool } from "undici";
import {
  CaError,
  type BulkRevocationResult,
  type CaAdapter,
  type CaCapabilities,
  type CaCredentials,
  type CaIdentity,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type Provenance,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";
import { splitPem } from "../../pki/index.js";
import { ocspOverHttp } from "./loopback-http.js";
import { publicUrl } from "./public-url.js";
import { TextAnswerHandler, type TextAnswer } from "./text-answer.js";

export interface HttpAdapterOptions {
  /** Base URL of a served embedded CA (`cardloop ca serve`), e.g. http://127.0.0.1:8440. */
  url: string;
  /**
   * The operator's and the issuing station's tokens (never logged). The
   * adapter never adds them by itself: callers read them with credentials()
   * and put them into the requests that need them, so that a request without
   * a credential is really sent without one.
   */
  operatorToken?: string;
  raToken?: string;
  /** What the served CA offers; the embedded CA's full set by default. */
  capabilities?: Partial<CaCapabilities>;
  timeoutMs?: number;
  /**
   * Connections kept to the CA (undici Agent), 32 by default: a load run
   * keeps as many as it has requests in flight, so that no request waits for
   * a connection on the client side.
   */
  connections?: number;
}

const FULL: CaCapabilities = {
  renew: true,
  hold: true,
  authorisation: true,
  cancellationCodes: true,
  cardExpiryCap: true,
  crl: true,
  ocsp: true,
  ocspGet: true,
  bulkRevoke: true,
  virtualClock: false,
  renewalAuthorisation: true,
  issuanceAuthorisation: true,
};

/** The embedded CA's REST API (issue 3) spoken over HTTP with undici. */
export class HttpCa implements CaAdapter {
  readonly name: string;
  private readonly base: string;
  /** One pool for the CA's origin: requests name a path, not a URL (no URL parsing, no origin lookup per request). */
  private readonly pool: Pool;
  /** The base URL's path, put before every request's path. */
  private readonly prefix: string;
  /** What the served CA says of its clock (GET /api/v1/clock): virtual when it only moves when told to. */
  private virtualClock = false;

  private constructor(private readonly opts: HttpAdapterOptions) {
    this.base = opts.url.replace(/\/$/, "");
    this.name = `http ${publicUrl(this.base)}`;
    const connections = opts.connections ?? 32;
    if (!(Number.isSafeInteger(connections) && connections >= 1)) throw new RangeError(`connections must be an integer >= 1, got ${connections}`);
    // Transport failures are thrown as undici raises them (code ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET,
    // UND_ERR_HEADERS_TIMEOUT...), never rewrapped: a load run classes them by that code.
    const url = new URL(this.base);
    this.prefix = url.pathname.replace(/\/$/, "");
    this.pool = new Pool(url.origin, { connections, headersTimeout: opts.timeoutMs ?? 30_000, bodyTimeout: opts.timeoutMs ?? 30_000 });
  }

  /**
   * Connects and reads the chain: a CA that does not answer fails here, not in
   * the middle of a run. Also asks how the CA keeps time: a CA on a virtual
   * clock (`ca serve --virtual-clock`) never waits out a 429 by itself, which
   * certify needs to know (it waits only on a CA that keeps real time).
   */
  static async connect(opts: HttpAdapterOptions): Promise<HttpCa> {
    const ca = new HttpCa(opts);
    try {
      await ca.chain();
    } catch (err) {
      await ca.close();
      throw new Error(`CA at ${publicUrl(opts.url)} is not reachable: ${(err as Error).message}`);
    }
    ca.virtualClock = await ca.servedClockIsVirtual();
    return ca;
  }

  capabilities(): CaCapabilities {
    return { ...FULL, virtualClock: this.virtualClock, ...(this.opts.capabilities ?? {}) };
  }

  /** False for a server without the clock endpoint (another CA speaking this API): it is taken to keep real time. */
  private async servedClockIsVirtual(): Promise<boolean> {
    try {
      const { json } = await this.call("GET", "/api/v1/clock");
      return json.virtual === true;
    } catch {
      return false;
    }
  }

  /**
   * The CA's own word (GET /api/v1/info: {software, version}, public and
   * read-only on `cardloop ca serve`); software "unknown" for a server without it.
   */
  async identity(): Promise<CaIdentity> {
    const url = publicUrl(this.base);
    try {
      const { json } = await this.call("GET", "/api/v1/info");
      // what a server says of itself goes into reports: one bounded line
      const said = (v: string) => v.replace(/\s+/g, " ").slice(0, 200);
      if (typeof json.software !== "string" || !json.software) return { software: "unknown", url };
      return { software: said(json.software), ...(typeof json.version === "string" ? { version: said(json.version) } : {}), url };
    } catch {
      return { software: "unknown", url };
    }
  }

  /** Everything is the served CA's own, through its HTTP API. */
  provenance(): Provenance {
    const u = publicUrl(this.base);
    const cert = `${u}/api/v1/certificates/{serial}`;
    return {
      issuance: { by: "ca", how: `POST ${u}/api/v1/certificates (Authorization: Bearer <raToken>); many at once: POST ${u}/api/v1/certificates/batch` },
      renewal: { by: "ca", how: `POST ${cert}/renewal-challenge, then POST ${cert}/renew {csr, challenge, proof} (or Authorization: Bearer <operatorToken>)` },
      revocation: { by: "ca", how: `POST ${cert}/revoke {reason, role, code | answers} (operator: Authorization: Bearer <operatorToken>)` },
      status: { by: "ca", how: `GET ${cert}` },
      crl: { by: "ca", how: `GET ${u}/crl` },
      "crl-publication": { by: "ca", how: `the CA's own schedule, seen at GET ${u}/crl` },
      "ocsp-publication": { by: "ca", how: `the CA's own responder, seen at POST ${u}/ocsp` },
      ocsp: { by: "ca", how: `POST ${u}/ocsp (application/ocsp-request); GET ${u}/ocsp/{URL-encoded base64 of the request}` },
    };
  }

  credentials(): CaCredentials {
    const { operatorToken, raToken } = this.opts;
    return { operatorToken, raToken };
  }

  /** `bearer`: the credential the request itself carries, sent as Authorization: Bearer. */
  private async call(method: "GET" | "POST", path: string, body?: unknown, bearer?: string): Promise<{ status: number; json: Record<string, unknown> }> {
    // undici's flat [name, value, ...] form: read pair by pair, no Object.keys or iterator check per request
    const headers = ["accept", "application/json"];
    if (body !== undefined) headers.push("content-type", "application/json");
    if (bearer) headers.push("authorization", `Bearer ${bearer}`);
    const opts = { path: this.prefix + path, method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    // dispatch, not request(): no Readable stream, async resource or extra promise per answer (text-answer.ts says why)
    const { status, retryAfter, text } = await new Promise<TextAnswer>((done, fail) => this.pool.dispatch(opts, new TextAnswerHandler(done, fail)));
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = { error: "not-json", message: text.slice(0, 200) };
    }
    if (status >= 400) {
      const retry = Number(retryAfter);
      throw new CaError(status, String(json.error ?? "error"), String(json.message ?? `HTTP ${status}`), Number.isFinite(retry) ? retry * 1000 : undefined);
    }
    return { status, json };
  }

  private issued(j: Record<string, unknown>): IssuedCertificate {
    return {
      serial: String(j.serial),
      certificatePem: String(j.certificate),
      chainPem: (j.chain as string[]) ?? [],
      notBefore: new Date(String(j.notBefore)),
      notAfter: new Date(String(j.notAfter)),
      ...(j.cancellationCodes ? { cancellationCodes: j.cancellationCodes as IssuedCertificate["cancellationCodes"] } : {}),
    };
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const { json } = await this.call("POST", "/api/v1/certificates", issueBody(req), req.raToken);
    return this.issued(json);
  }

  /**
   * `POST /api/v1/certificates/batch`: one request for many issuances, one result each in order (the certificate, or
   * a CaError for that item's refusal). Every request must carry the same raToken: it is the batch's credential.
   */
  async issueMany(reqs: IssueRequest[]): Promise<Array<IssuedCertificate | CaError>> {
    const token = reqs[0]?.raToken;
    if (reqs.some((r) => r.raToken !== token)) throw new RangeError("issueMany: every request must carry the same raToken (the batch's credential)");
    const { json } = await this.call("POST", "/api/v1/certificates/batch", { requests: reqs.map(issueBody) }, token);
    const results = json.results;
    if (!Array.isArray(results) || results.length !== reqs.length) {
      throw new CaError(502, "bad-batch-answer", `the CA answered ${Array.isArray(results) ? results.length : "no"} results for ${reqs.length} requests`);
    }
    return results.map((r: Record<string, unknown>) =>
      typeof r?.serial === "string" ? this.issued(r) : new CaError(Number(r?.status) || 500, String(r?.error ?? "error"), String(r?.message ?? "refused")),
    );
  }

  async renewalChallenge(serial: string): Promise<RenewalChallenge> {
    const { json } = await this.call("POST", `/api/v1/certificates/${encodeURIComponent(serial)}/renewal-challenge`, {});
    return { serial: String(json.serial), challenge: String(json.challenge), expiresAt: new Date(String(json.expiresAt)) };
  }

  async renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    const { json } = await this.call(
      "POST",
      `/api/v1/certificates/${encodeURIComponent(serial)}/renew`,
      {
        csr: req.csrPem,
        ...(req.cardExpiry ? { cardExpiry: req.cardExpiry.toISOString() } : {}),
        ...(req.challenge !== undefined ? { challenge: req.challenge } : {}),
        ...(req.proof !== undefined ? { proof: Buffer.from(req.proof).toString("base64") } : {}),
      },
      req.operatorToken,
    );
    return this.issued(json);
  }

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    const { serial, operatorToken, ...rest } = req;
    const { json } = await this.call("POST", `/api/v1/certificates/${encodeURIComponent(serial)}/revoke`, rest, operatorToken);
    return { serial: String(json.serial), status: json.status as RevocationResult["status"], reason: json.reason as RevocationResult["reason"], revokedAt: new Date(String(json.revokedAt)) };
  }

  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult> {
    const { json } = await this.call("POST", "/api/v1/revocations", { serials, reason }, operatorToken);
    return {
      revoked: Number(json.revoked),
      revokedAt: new Date(String(json.revokedAt)),
      unknown: (json.unknown as string[]) ?? [],
      alreadyRevoked: (json.alreadyRevoked as string[]) ?? [],
    };
  }

  async release(serial: string, operatorToken?: string): Promise<void> {
    await this.call("POST", `/api/v1/certificates/${encodeURIComponent(serial)}/release`, {}, operatorToken);
  }

  async status(serial: string): Promise<CertificateStatus> {
    try {
      const { json } = await this.call("GET", `/api/v1/certificates/${encodeURIComponent(serial)}`);
      const d = (k: string) => (json[k] ? new Date(String(json[k])) : undefined);
      return {
        serial: String(json.serial),
        status: json.status as CertificateStatus["status"],
        ...(json.reason ? { reason: json.reason as CertificateStatus["reason"] } : {}),
        ...(json.revokedAt ? { revokedAt: d("revokedAt") } : {}),
        ...(json.notBefore ? { notBefore: d("notBefore") } : {}),
        ...(json.notAfter ? { notAfter: d("notAfter") } : {}),
      };
    } catch (err) {
      if (err instanceof CaError && err.status === 404) return { serial, status: "unknown" };
      throw err;
    }
  }

  async crl(): Promise<Uint8Array> {
    const res = await this.pool.request({ path: `${this.prefix}/crl`, method: "GET" });
    const body = new Uint8Array(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new CaError(res.statusCode, "crl", `GET /crl answered ${res.statusCode}`);
    return body;
  }

  /** The root's CRL (covering the issuing CA), which a relying party needs for a full path. */
  async authorityCrls(): Promise<Uint8Array[]> {
    const res = await this.pool.request({ path: `${this.prefix}/crl/root`, method: "GET" });
    const body = new Uint8Array(await res.body.arrayBuffer());
    return res.statusCode === 200 ? [body] : [];
  }

  ocsp(req: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
    return ocspOverHttp(`${this.base}/ocsp`, req, method);
  }

  private async chain(): Promise<string[]> {
    const res = await this.pool.request({ path: `${this.prefix}/ca`, method: "GET" });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET /ca answered ${res.statusCode}`);
    const certs = splitPem(text, "CERTIFICATE");
    if (!certs.length) throw new Error("GET /ca returned no certificate");
    return certs;
  }

  async anchors(): Promise<string[]> {
    const chain = await this.chain();
    return [chain[chain.length - 1]];
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** An issuance request as the API's body (the single endpoint's, and each batch item); the token goes as the bearer. */
function issueBody(req: IssueRequest): Record<string, unknown> {
  return { csr: req.csrPem, profile: req.profile, holder: req.holder, ...(req.cardExpiry ? { cardExpiry: req.cardExpiry.toISOString() } : {}) };
}
