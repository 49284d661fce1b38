import { CertificationRequest, pemToDer, publicKeyOf } from "../../pki/index.js";
import { isRevocationReason, isRevokerRole, REVOKER_ROLES, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CaError, type Holder, type Profile, type RenewRequest, type RevokeRequest } from "./api.js";

/**
 * Request validation: the shape of what callers send, checked before any
 * service acts on it. Every refusal is a CaError(400) with a reason; nothing
 * here reads the store or the clock.
 */

const SERIAL_RE = /^[0-9a-f]{2,40}$/;

/** A serial as the store spells it: lower-case hex, no 0x or colons, 1 to 20 octets. */
export function checkSerial(serial: unknown): string {
  if (typeof serial !== "string") throw new CaError(400, "bad-serial", "serial must be a hex string");
  const s = serial.toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!SERIAL_RE.test(s) || s.length % 2 !== 0) throw new CaError(400, "bad-serial", "serial must be 1 to 20 octets of hex");
  return s;
}

/** A reason a revocation request may give (removeFromCRL only undoes a hold). */
export function checkReason(reason: unknown): RevocationReason {
  if (!isRevocationReason(reason)) throw new CaError(400, "bad-reason", `reason must be an RFC 5280 reason name`);
  if (reason === "removeFromCRL") throw new CaError(400, "bad-reason", "removeFromCRL is not a revocation reason; release the certificate instead");
  return reason;
}

export function checkRole(role: unknown): RevokerRole {
  if (!isRevokerRole(role)) throw new CaError(400, "bad-role", `role must be one of ${REVOKER_ROLES.join(", ")}`);
  return role;
}

export function checkProfile(p: unknown): Profile {
  if (p !== "authentication" && p !== "signature") throw new CaError(400, "bad-profile", 'profile must be "authentication" or "signature"');
  return p;
}

function nonEmpty(v: unknown, what: string): string {
  if (typeof v !== "string" || v.trim() === "") throw new CaError(400, "bad-request", `${what} is required`);
  if (v.length > 256) throw new CaError(400, "bad-request", `${what} is too long`);
  return v;
}

export function checkHolder(h: unknown): Holder {
  if (!h || typeof h !== "object") throw new CaError(400, "bad-holder", "holder {id, name, email} is required");
  const o = h as Record<string, unknown>;
  const holder: Holder = { id: nonEmpty(o.id, "holder.id"), name: nonEmpty(o.name, "holder.name"), email: nonEmpty(o.email, "holder.email") };
  if (!/^[^\s@]+@[^\s@]+$/.test(holder.email)) throw new CaError(400, "bad-holder", "holder.email is not an email address");
  if (o.organisation !== undefined && o.organisation !== null) holder.organisation = nonEmpty(o.organisation, "holder.organisation");
  if (o.registration !== undefined) {
    if (!o.registration || typeof o.registration !== "object" || Array.isArray(o.registration)) {
      throw new CaError(400, "bad-holder", "holder.registration must be an object of question -> answer");
    }
    holder.registration = {};
    for (const [q, a] of Object.entries(o.registration)) holder.registration[q] = nonEmpty(a, `holder.registration.${q}`);
  }
  return holder;
}

/** The credentials a role must present are there (whether they are right is the authority's question). */
export function checkCredentialShape(req: RevokeRequest): void {
  if (req.role === "holder") {
    for (const f of ["code", "email", "name"] as const) nonEmpty(req[f], f);
  } else if (req.role === "operator") {
    if (!req.answers || typeof req.answers !== "object" || Object.keys(req.answers).length === 0) {
      throw new CaError(400, "bad-request", "answers to the registration questions are required for the operator role");
    }
  } else nonEmpty(req.code, "code");
}

/**
 * The card's expiry, when given: a Date (in process) or a date string (JSON),
 * not yet past at `nowMs`. String() of anything else is no date, and can throw.
 */
export function checkCardExpiry(cardExpiry: unknown, nowMs: number): number | undefined {
  if (cardExpiry === undefined || cardExpiry === null) return undefined;
  if (!(cardExpiry instanceof Date) && typeof cardExpiry !== "string") throw new CaError(400, "bad-card-expiry", "cardExpiry must be a date string");
  const exp = (cardExpiry instanceof Date ? cardExpiry : new Date(cardExpiry)).getTime();
  if (!Number.isFinite(exp)) throw new CaError(400, "bad-card-expiry", "cardExpiry is not a valid date");
  if (exp <= nowMs) throw new CaError(400, "card-expired", "the card has already expired");
  return exp;
}

/** Who a renewal request claims to be, for the audit trail. */
export function renewalRole(req: RenewRequest | undefined): "operator" | "card" | "anonymous" {
  if (req?.operatorToken !== undefined) return "operator";
  return req?.proof !== undefined || req?.challenge !== undefined ? "card" : "anonymous";
}

/** Parses and verifies a PKCS#10 request (accepted keys: RSA >= 2048, P-256, P-384); returns its SPKI. */
export async function verifyCsr(pem: unknown): Promise<Uint8Array> {
  if (typeof pem !== "string" || !pem.includes("CERTIFICATE REQUEST")) throw new CaError(400, "bad-csr", "csr must be a PEM certificate request");
  let csr: CertificationRequest;
  try {
    csr = new CertificationRequest(pemToDer(pem));
  } catch (err) {
    throw new CaError(400, "bad-csr", `the certificate request does not parse: ${(err as Error).message}`);
  }
  const spki = csr.spki;
  // pki's key cache: csr.verify() below finds this very key again instead of parsing the SPKI a second time.
  const k = publicKeyOf(spki).key;
  if (!k) throw new CaError(400, "bad-csr", "the request's public key does not parse");
  const d = k.asymmetricKeyDetails;
  const details = { type: k.asymmetricKeyType, bits: d?.modulusLength, curve: d?.namedCurve };
  if (details.type === "rsa") {
    if ((details.bits ?? 0) < 2048) throw new CaError(400, "weak-key", `RSA keys must be at least 2048 bits (got ${details.bits})`);
  } else if (details.type === "ec") {
    if (details.curve !== "prime256v1" && details.curve !== "secp384r1") throw new CaError(400, "weak-key", `unsupported curve ${details.curve}`);
  } else throw new CaError(400, "weak-key", `unsupported key type ${details.type}`);
  const ok = csr.verify();
  if (!ok) throw new CaError(400, "bad-csr-signature", "the certificate request's signature does not verify");
  return spki;
}
