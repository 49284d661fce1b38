import { bytesEqual } from "../core/index.js";
import type { Crl } from "./crl.js";
import { DecodeError, type Failure, failure } from "./errors.js";
import type { PathInputs } from "./path.js";
import { crlProfile } from "./profile.js";
import { isoTime as iso } from "./time.js";

/**
 * What makes an authentic CRL usable (RFC 5280 5.2, 5.2.3, 6.3.3 (a)), and the comparisons of
 * CRLs made before a signature is checked; shared by revocation.ts and crl-deltas.ts.
 */

/** 5.2: a CRL with a critical extension (or entry extension) we cannot process is not used at all. */
export function crlUnprocessable(crl: Crl, pos: number): Failure | undefined {
  const unknown = crl.unknownCriticalExtension();
  return unknown ? failure("crl-unknown-critical-extension", pos, `CRL from "${crl.issuer.display}" has unsupported critical extension ${unknown}`) : undefined;
}

/**
 * What keeps a processable, authentic CRL from showing a good status or a hold: the strict
 * profile's CRL number rules (5.2.3, kept on the view once judged), then nextUpdate.
 */
export function crlUnusable(inputs: PathInputs, crl: Crl, pos: number): Failure | undefined {
  if (inputs.profile !== "lenient") {
    const p = crl.profileVerdict === undefined ? (crl.profileVerdict = crlProfile(crl) ?? null) : crl.profileVerdict;
    if (p) return failure(p.code, pos, `CRL from "${crl.issuer.display}": ${p.detail}`);
  }
  if (crl.nextUpdate !== undefined && inputs.time > crl.nextUpdate) return failure("crl-expired", pos, `CRL from "${crl.issuer.display}" expired ${iso(crl.nextUpdate)}`);
  return undefined;
}

/** An authentic CRL usable for any status: processable, in profile and current. */
export function crlCurrent(inputs: PathInputs, crl: Crl, pos: number): Failure | undefined {
  return crlUnprocessable(crl, pos) ?? crlUnusable(inputs, crl, pos);
}

/** A CRL's DecodeError as that CRL's failure; anything else is rethrown. */
export function malformedCrl(err: unknown, crl: Crl, pos: number, what = "CRL"): Failure {
  if (!(err instanceof DecodeError)) throw err;
  let from = "";
  try {
    from = ` from "${crl.issuer.display}"`;
  } catch {
    // the issuer name is what does not decode: the message says so
  }
  return failure("malformed", pos, `${what}${from} does not decode: ${err.message}`);
}

/** Issuer names compared before a signature is checked: a name that does not decode matches nothing. */
export function sameIssuer(a: Crl, b: Crl): boolean {
  try {
    return a.issuer.key === b.issuer.key;
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
}

/** The same extension octets on both, or absent from both. */
export function sameExtension(a: Crl, b: Crl, oid: string): boolean {
  const x = a.extensions.get(oid)?.value;
  const y = b.extensions.get(oid)?.value;
  if (!x || !y) return x === y;
  return bytesEqual(x, y);
}
