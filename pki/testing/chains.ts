import fc from "fast-check";
import { KU, type TestKey, buildCert, buildCrl, name, newKey } from "./builder.js";

/**
 * Random certificate chains for property tests, described by parameters from which
 * the expected outcome follows (the oracle). Keys come from a small pool generated
 * once, so thousands of chains cost only signatures.
 */

export const DAY = 86_400_000;
/** Base instant for generated chains; every offset is in days from here. */
export const T0 = Date.UTC(2030, 0, 1);

export type CaKeyUsage = "absent" | "standard" | "no-certsign" | "no-crlsign";
export type LeafKeyUsage = "absent" | "digitalSignature" | "nonRepudiation" | "both";

export interface CertParams {
  notBefore: number; // days
  lifetime: number; // days
}
export interface CaParams extends CertParams {
  ca: boolean;
  pathLen?: number;
  keyUsage: CaKeyUsage;
}
export interface ChainParams {
  /** Intermediates between the root and the leaf (0..3): depth 1-4. */
  intermediates: CaParams[];
  leaf: CertParams & { keyUsage: LeafKeyUsage };
  /** Per issuer (root, intermediates...): is there a CRL, when does it expire, which of its subjects are revoked when. */
  crls: Array<{ present: boolean; nextUpdate: number; revokedChildAt?: number }>;
  /** Validation time, days from T0. */
  at: number;
  usage: "authentication" | "signature" | "any";
}

/** Mostly windows that cover every validation time (-30..30 days), sometimes any window. */
const window = (): fc.Arbitrary<CertParams> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ notBefore: fc.integer({ min: -900, max: -31 }), lifetime: fc.integer({ min: 961, max: 2000 }) }) },
    { weight: 1, arbitrary: fc.record({ notBefore: fc.integer({ min: -900, max: 60 }), lifetime: fc.integer({ min: 30, max: 1500 }) }) },
  );

export const caParams = (): fc.Arbitrary<CaParams> =>
  fc.tuple(window(), fc.record({
    ca: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    pathLen: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 2 }),
    keyUsage: fc.oneof(
      { weight: 8, arbitrary: fc.constant<CaKeyUsage>("standard") },
      { weight: 2, arbitrary: fc.constant<CaKeyUsage>("absent") },
      { weight: 1, arbitrary: fc.constant<CaKeyUsage>("no-certsign") },
      { weight: 1, arbitrary: fc.constant<CaKeyUsage>("no-crlsign") },
    ),
  })).map(([w, c]) => ({ ...w, ...c }));

export interface ArbOptions {
  /** Revocation dates only before the validation time and CRLs issued before it (what openssl can judge). */
  pastOnly?: boolean;
  usage?: boolean;
}

export const chainParams = (o: ArbOptions = {}): fc.Arbitrary<ChainParams> =>
  fc.integer({ min: 0, max: 3 }).chain((n) =>
    fc.record({
      intermediates: fc.array(caParams(), { minLength: n, maxLength: n }),
      leaf: fc.tuple(window(), fc.constantFrom<LeafKeyUsage>("absent", "digitalSignature", "nonRepudiation", "both")).map(([w, keyUsage]) => ({ ...w, keyUsage })),
      crls: fc.array(
        fc.record({
          present: fc.oneof({ weight: 10, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
          nextUpdate: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: -20, max: 0 }) }, { weight: 5, arbitrary: fc.integer({ min: 0, max: 60 }) }), // days after the validation time
          // days from `at`; a child is revoked on about one CRL in six
          revokedChildAt: fc.oneof(
            { weight: 5, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: o.pastOnly ? fc.integer({ min: -300, max: -2 }) : fc.integer({ min: -300, max: 300 }) },
          ),
        }),
        { minLength: n + 1, maxLength: n + 1 },
      ),
      at: fc.integer({ min: -30, max: 30 }),
      usage: o.usage === false ? fc.constant<ChainParams["usage"]>("any") : fc.constantFrom<ChainParams["usage"]>("authentication", "signature", "any"),
    }),
  );

/** The codes the validator may answer for these parameters; empty = valid. */
export function expectedFailures(p: ChainParams, o: { requireRevocation?: boolean } = {}): Set<string> {
  const out = new Set<string>();
  const at = p.at;
  const all: CertParams[] = [...p.intermediates, p.leaf];
  const n = all.length;
  let maxPathLength = n;
  all.forEach((c, idx) => {
    const i = idx + 1;
    if (at < c.notBefore) out.add("not-yet-valid");
    if (at > c.notBefore + c.lifetime) out.add("expired");
    if (i < n) {
      const ca = c as CaParams;
      if (!ca.ca) out.add("basic-constraints");
      if (maxPathLength <= 0) out.add("path-length");
      maxPathLength--;
      if (ca.pathLen !== undefined && ca.pathLen < maxPathLength) maxPathLength = ca.pathLen;
      if (ca.keyUsage === "no-certsign") out.add("key-usage");
      // The strict profile (RFC 5280 4.2.1.3): a CA's key that verifies certificates needs a keyUsage.
      if (ca.ca && ca.keyUsage === "absent") out.add("profile-key-usage");
    } else {
      const ku = p.leaf.keyUsage;
      if (p.usage === "authentication" && (ku === "nonRepudiation")) out.add("key-usage");
      if (p.usage === "signature" && ku === "digitalSignature") out.add("key-usage");
    }
  });
  // Revocation: the issuer of cert i is issuer i-1 (0 = the root). With no CRL at all,
  // the default "if-present" policy does not check revocation.
  const anyCrl = o.requireRevocation || p.crls.some((c) => c.present);
  for (let i = 1; anyCrl && i <= n; i++) {
    const crl = p.crls[i - 1];
    if (!crl.present) {
      out.add("crl-missing");
      continue;
    }
    const issuerKu = i === 1 ? "standard" : p.intermediates[i - 2].keyUsage;
    if (issuerKu === "no-crlsign") {
      out.add("crl-issuer-key-usage");
      continue;
    }
    // An authentic but expired CRL still proves a revocation it lists.
    if (crl.revokedChildAt !== undefined && crl.revokedChildAt <= 0) out.add("revoked");
    else if (crl.nextUpdate < 0) out.add("crl-expired");
  }
  return out;
}

export interface BuiltChain {
  root: Uint8Array;
  intermediates: Uint8Array[];
  leaf: Uint8Array;
  crls: Uint8Array[];
  /** Validation time in ms. */
  time: number;
}

const caKu = (k: CaKeyUsage): number | undefined =>
  k === "absent" ? undefined : k === "standard" ? KU.keyCertSign | KU.cRLSign : k === "no-certsign" ? KU.cRLSign | KU.digitalSignature : KU.keyCertSign;
const leafKu = (k: LeafKeyUsage): number | undefined =>
  k === "absent" ? undefined : k === "digitalSignature" ? KU.digitalSignature : k === "nonRepudiation" ? KU.nonRepudiation : KU.digitalSignature | KU.nonRepudiation;

export class KeyPool {
  private readonly keys: TestKey[];
  private i = 0;
  constructor(size = 8) {
    this.keys = Array.from({ length: size }, () => newKey("p256"));
  }
  next(): TestKey {
    return this.keys[this.i++ % this.keys.length];
  }
}

/** Builds the chain the parameters describe; `tag` makes every name unique across chains. */
export function buildChain(p: ChainParams, tag: string, pool: KeyPool): BuiltChain {
  const day = (d: number) => T0 + d * DAY;
  const at = day(p.at);
  const rootKey = pool.next();
  const rootName = name(["C", "XX"], ["O", "cardloop test"], ["CN", `Root ${tag}`]);
  const root = buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: day(-5000), notAfter: day(5000), subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  const issuers: Array<{ name: Uint8Array; key: TestKey }> = [{ name: rootName, key: rootKey }];
  const intermediates: Uint8Array[] = [];
  const serials: number[] = [];
  p.intermediates.forEach((c, i) => {
    const key = pool.next();
    const subject = name(["C", "XX"], ["O", "cardloop test"], ["CN", `CA ${i + 1} ${tag}`]);
    const up = issuers[issuers.length - 1];
    const serial = 100 + i;
    serials.push(serial);
    intermediates.push(buildCert({ serial, issuer: up.name, subject, notBefore: day(c.notBefore), notAfter: day(c.notBefore + c.lifetime), subjectKey: key, issuerKey: up.key, ca: c.ca, pathLen: c.pathLen, keyUsage: caKu(c.keyUsage) }));
    issuers.push({ name: subject, key });
  });
  const up = issuers[issuers.length - 1];
  serials.push(4242);
  const leaf = buildCert({
    serial: 4242,
    issuer: up.name,
    subject: name(["C", "XX"], ["CN", `Holder ${tag}`]),
    notBefore: day(p.leaf.notBefore),
    notAfter: day(p.leaf.notBefore + p.leaf.lifetime),
    subjectKey: pool.next(),
    issuerKey: up.key,
    ca: false,
    keyUsage: leafKu(p.leaf.keyUsage),
  });
  const crls: Uint8Array[] = [];
  p.crls.forEach((c, i) => {
    if (!c.present) return;
    const rev = c.revokedChildAt !== undefined ? at + c.revokedChildAt * DAY : undefined;
    // Issued before the validation time unless it must show a later revocation.
    const thisUpdate = Math.max(at - DAY, rev !== undefined ? rev + 1000 : 0);
    const entries = [{ serial: 9_000_000 + i, date: at - 400 * DAY, reason: 1 }];
    if (rev !== undefined) entries.push({ serial: serials[i], date: rev, reason: 1 });
    crls.push(buildCrl({ issuer: issuers[i].name, issuerKey: issuers[i].key, thisUpdate, nextUpdate: at + c.nextUpdate * DAY + (c.nextUpdate === 0 ? 1000 : 0), entries }));
  });
  return { root, intermediates, leaf, crls, time: at };
}
