import type { Crl } from "./crl.js";
import { crlCurrent, malformedCrl, sameExtension, sameIssuer } from "./crl-checks.js";
import { latin1Of } from "./der.js";
import { DecodeError, type Failure } from "./errors.js";
import { OID } from "./oids.js";
import type { PathInputs } from "./path.js";
import { type Budget, budgetSpent, verifyCharged } from "./revocation-budget.js";
import type { PublicKey } from "./signed-data.js";

/**
 * Delta CRLs (RFC 5280 5.2.4, 6.3.3 (c), (h)): the supplied deltas are scanned once per
 * (issuer, IDP, signing key) per validation, not once per complete CRL: a relying party's cache
 * of K complete CRLs and D deltas costs D signature checks, not K x D. Nothing of a delta but
 * its issuer name is decoded before its signature is checked (a name that does not decode
 * matches none).
 */

interface Delta {
  crl: Crl;
  base: bigint;
  number: bigint;
  keyId: string | undefined;
  /** Usable on its own: processable, in profile, not past nextUpdate. */
  current: boolean;
}

interface Scan {
  deltas: Delta[];
  /** The budget ran out during the scan: which delta was newest is unknown. */
  spent?: Crl;
  /** The first authentic delta that does not decode. */
  bad?: { crl: Crl; err: DecodeError };
}

/** Per validation (the context object): scan key -> scan. */
const scans = new WeakMap<object, Map<string, Scan>>();

/**
 * The newest delta CRL for `complete`: same issuer, same IDP (or none), same authority key,
 * BaseCRLNumber <= the complete CRL's number < its own, signed by `key` (which signed the
 * complete CRL), usable and current; others are ignored. An authentic delta that does not
 * decode is the complete CRL's failure; a budget spent on the scan is the certificate's.
 */
export function findDelta(ctx: Budget & { in: PathInputs }, complete: Crl, key: PublicKey, pos: number): Crl | Failure | undefined {
  const number = complete.crlNumber;
  if (number === undefined) return undefined;
  const scan = deltasOf(ctx, complete, key);
  if (scan.spent) return budgetSpent("crl-bad-signature", pos, `delta CRL from "${scan.spent.issuer.display}"`);
  if (scan.bad) return malformedCrl(scan.bad.err, scan.bad.crl, pos, "delta CRL");
  const keyId = complete.authorityKeyId?.keyId;
  let best: Crl | undefined;
  let bestNumber = number;
  for (const d of scan.deltas) {
    if (!d.current || d.base > number || d.number <= bestNumber) continue;
    if (d.keyId !== undefined && keyId !== undefined && d.keyId !== keyId) continue;
    best = d.crl;
    bestNumber = d.number;
  }
  return best;
}

function deltasOf(ctx: Budget & { in: PathInputs }, complete: Crl, key: PublicKey): Scan {
  const idp = complete.extensions.get(OID.issuingDistributionPoint)?.value;
  const id = `${key.id}\0${idp ? latin1Of(idp) : ""}\0${complete.issuer.key}`;
  let byKey = scans.get(ctx);
  const hit = byKey?.get(id);
  if (hit) return hit;
  const scan: Scan = { deltas: [] };
  for (const d of ctx.in.crls) {
    if (!d.isDelta || !sameExtension(d, complete, OID.issuingDistributionPoint) || !sameIssuer(d, complete)) continue;
    const r = verifyCharged(ctx, d, key);
    if (r === undefined) {
      scan.spent = d;
      break;
    }
    if (r !== "ok") continue;
    try {
      const number = d.crlNumber;
      if (number === undefined) continue;
      scan.deltas.push({ crl: d, base: d.baseCrlNumber!, number, keyId: d.authorityKeyId?.keyId, current: !crlCurrent(ctx.in, d, 0) });
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      scan.bad = { crl: d, err };
      break;
    }
  }
  if (!byKey) scans.set(ctx, (byKey = new Map()));
  byKey.set(id, scan);
  return scan;
}
