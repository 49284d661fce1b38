/**
 * A worked example of a CA adapter module for `cardloop certify --ca module:PATH`.
 *
 * It drives a CA through a REST API (here the API `cardloop ca serve` speaks,
 * standing in for yours) with nothing but `fetch`. Copy it, change the
 * requests to your CA's, declare honestly what your CA offers, and run:
 *
 *   cardloop certify --ca module:./my-adapter.ts --ca-config my-ca.yaml
 *
 * my-ca.yaml holds this adapter's options, e.g.:
 *
 *   url: http://127.0.0.1:8440
 *   hold: false          # say so if your CA cannot suspend certificates
 *   raToken: ...         # the issuing station's credential (ra.token of `cardloop ca serve`)
 *   operatorToken: ...   # the operator's (operator.token)
 */
import {
  CaError,
  type CaAdapter,
  type CaCapabilities,
  type CaIdentity,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type Provenance,
  type RenewRequest,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";
import { splitPem } from "../../pki/index.js";

interface MyOptions {
  url?: string;
  hold?: boolean;
  raToken?: string;
  operatorToken?: string;
}

/**
 * Optional: the options this adapter takes, so that cardloop refuses a
 * misspelt key or a wrong type in --ca-config (one line, exit 2) instead of
 * running with the default. Shapes: "any", "string", "number", "boolean", a
 * list of allowed strings, or a mapping of the same.
 */
export const configKeys = { url: "string", hold: "boolean", raToken: "string", operatorToken: "string" } as const;

/**
 * Every call goes through here: a refusal becomes a CaError with the HTTP
 * status, which the checks judge. `token`: the credential the request carries.
 */
async function call(base: string, method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new CaError(res.status, String(json.error ?? "error"), String(json.message ?? res.statusText));
  return json;
}

function toIssued(j: Record<string, unknown>): IssuedCertificate {
  return {
    serial: String(j.serial),
    certificatePem: String(j.certificate),
    chainPem: j.chain as string[],
    notBefore: new Date(String(j.notBefore)),
    notAfter: new Date(String(j.notAfter)),
    cancellationCodes: j.cancellationCodes as IssuedCertificate["cancellationCodes"],
  };
}

/** The one export cardloop looks for. `options` is the --ca-config YAML, plus the run's clock. */
export async function createAdapter(options: MyOptions & Record<string, unknown>): Promise<CaAdapter> {
  if (!options.url) throw new Error("my-adapter needs `url` in --ca-config");
  const base = options.url.replace(/\/$/, "");
  // Fail now if the CA is not there: certify then exits 2 ("could not be reached").
  await call(base, "GET", "/api/v1/certificates/01").catch((err) => {
    if (!(err instanceof CaError)) throw err; // a 404 still proves the CA answers
  });

  return {
    name: `my-ca ${base}`,

    // What the CA offers. A check needing something declared false is skipped with that reason, never passed.
    capabilities(): CaCapabilities {
      return {
        renew: true,
        hold: options.hold ?? true,
        authorisation: true,
        cancellationCodes: true,
        cardExpiryCap: true,
        crl: true,
        ocsp: true,
        ocspGet: true,
        bulkRevoke: false,
        virtualClock: false,
        // Renewal needs proof of the old key (the challenge below); omit this if your CA has no such check.
        renewalAuthorisation: true,
        // Issuing needs the issuing station's credential; omit this if anyone may ask your CA for a certificate.
        issuanceAuthorisation: true,
      };
    },

    // Optional: what answers, for the report. Ask your CA if it can say (this API has GET /api/v1/info).
    async identity(): Promise<CaIdentity> {
      const info = await call(base, "GET", "/api/v1/info").catch(() => ({}) as Record<string, unknown>);
      return {
        software: typeof info.software === "string" ? info.software : "my CA",
        ...(typeof info.version === "string" ? { version: info.version } : {}),
        url: base,
      };
    },

    // Optional: how each artefact is made. "ca" where the CA makes it; "adapter" where this module
    // builds it for a CA that has no such thing (a renewal as sign-and-revoke, a CRL from a serial
    // list): a failure on it is then a warning, never the CA's defect. No tokens or key material here.
    provenance(): Provenance {
      const cert = `${base}/api/v1/certificates/{serial}`;
      return {
        issuance: { by: "ca", how: `POST ${base}/api/v1/certificates` },
        renewal: { by: "ca", how: `POST ${cert}/renewal-challenge, then POST ${cert}/renew` },
        revocation: { by: "ca", how: `POST ${cert}/revoke` },
        status: { by: "ca", how: `GET ${cert}` },
        crl: { by: "ca", how: `GET ${base}/crl` },
        ocsp: { by: "ca", how: `POST ${base}/ocsp; GET ${base}/ocsp/{URL-encoded base64 of the request}` },
        // When a revocation shows: the CA's own doing here (an adapter that ran a CRL job itself would say "adapter").
        "crl-publication": { by: "ca", how: `the CA's own schedule, seen at GET ${base}/crl` },
        "ocsp-publication": { by: "ca", how: `the CA's own responder, seen at POST ${base}/ocsp` },
      };
    },

    // What --ca-config gave; certify puts each into the requests that need it (an adapter never adds them itself).
    credentials() {
      return { raToken: options.raToken, operatorToken: options.operatorToken };
    },

    async issue(req: IssueRequest) {
      const body = { csr: req.csrPem, profile: req.profile, holder: req.holder, cardExpiry: req.cardExpiry?.toISOString() };
      return toIssued(await call(base, "POST", "/api/v1/certificates", body, req.raToken));
    },

    // Optional: a single-use challenge the card signs with the old key before it makes the new one.
    async renewalChallenge(serial: string) {
      const j = await call(base, "POST", `/api/v1/certificates/${serial}/renewal-challenge`, {});
      return { serial: String(j.serial), challenge: String(j.challenge), expiresAt: new Date(String(j.expiresAt)) };
    },

    async renew(serial: string, req: RenewRequest) {
      const proof = req.proof && Buffer.from(req.proof).toString("base64");
      const body = { csr: req.csrPem, cardExpiry: req.cardExpiry?.toISOString(), challenge: req.challenge, proof };
      return toIssued(await call(base, "POST", `/api/v1/certificates/${serial}/renew`, body, req.operatorToken));
    },

    async revoke(req: RevokeRequest): Promise<RevocationResult> {
      const { serial, operatorToken, ...credentials } = req;
      const j = await call(base, "POST", `/api/v1/certificates/${serial}/revoke`, credentials, operatorToken);
      return { serial: String(j.serial), status: j.status as RevocationResult["status"], reason: j.reason as RevocationResult["reason"], revokedAt: new Date(String(j.revokedAt)) };
    },

    async release(serial: string, operatorToken?: string) {
      await call(base, "POST", `/api/v1/certificates/${serial}/release`, {}, operatorToken);
    },

    async status(serial: string): Promise<CertificateStatus> {
      try {
        const j = await call(base, "GET", `/api/v1/certificates/${serial}`);
        return { ...(j as unknown as CertificateStatus), revokedAt: j.revokedAt ? new Date(String(j.revokedAt)) : undefined };
      } catch (err) {
        if (err instanceof CaError && err.status === 404) return { serial, status: "unknown" };
        throw err;
      }
    },

    async crl() {
      const res = await fetch(`${base}/crl`);
      if (!res.ok) throw new CaError(res.status, "crl", `GET /crl answered ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },

    // Optional: CRLs for the CA certificates above the leaves (here the root's), for full-path validation.
    async authorityCrls() {
      const res = await fetch(`${base}/crl/root`);
      return res.ok ? [new Uint8Array(await res.arrayBuffer())] : [];
    },

    // OCSP bytes in, bytes out: cardloop builds the requests and judges the answers.
    // A failure says what was sent and what came back, so that the report shows whose fault it was.
    async ocsp(request: Uint8Array, method: "POST" | "GET" = "POST") {
      // RFC 6960 A.1: GET carries the URL-encoding of the base64 DER
      const url = method === "POST" ? `${base}/ocsp` : `${base}/ocsp/${encodeURIComponent(Buffer.from(request).toString("base64"))}`;
      const res =
        method === "POST"
          ? await fetch(url, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: request })
          : await fetch(url);
      const body = new Uint8Array(await res.arrayBuffer());
      const type = res.headers.get("content-type");
      if (!res.ok && type !== "application/ocsp-response") {
        const start = Buffer.from(body.subarray(0, 100));
        const quoted = /^[\x20-\x7e\s]*$/.test(start.toString("latin1")) ? JSON.stringify(start.toString("utf8")) : `(hex) ${start.toString("hex")}`;
        throw new CaError(res.status, "ocsp", `OCSP ${method} ${url} answered HTTP ${res.status}, content-type ${type ?? "(none)"}, body ${quoted}`);
      }
      return body;
    },

    async anchors() {
      const chain = await (await fetch(`${base}/ca`)).text();
      const pems = splitPem(chain, "CERTIFICATE"); // one PEM per certificate, issuing CA first
      return pems.slice(-1); // the root
    },

    async close() {
      // Stop whatever this adapter started (processes, temp dirs). This one started nothing.
    },
  };
}
