import { addYears } from "../../core/index.js";
import { pemToDer, validate } from "../../pki/index.js";
import { certInfo, EKU, keyHash, makeCsr, breakSignature, normSerial } from "../pkix.js";
import { judgeThrown } from "../judgement.js";
import type { Batch } from "./batch.js";
import type { Issued } from "./fixtures.js";
import { isCaRefusal, refusal, refusalEvidence, refusedFor, refusedOtherwise, type ExpectedRefusal } from "./refusals.js";
import { fail, NotJudged, pass, Precondition, skip, unjudged, type Check, type CheckContext, type Verdict } from "./types.js";

const certEvidence = (c: Issued) => ({ serial: c.issued.serial, certificate: c.issued.certificatePem });

async function profileCerts(ctx: CheckContext): Promise<Issued[]> {
  return [await ctx.fx.auth(), await ctx.fx.sign()];
}

/**
 * The request's signature does not verify: the embedded CA and a served one
 * (400 bad-csr-signature); the OpenSSL adapter maps `openssl ca`'s "Signature
 * did not match the certificate request" to the same, and the CFSSL adapter
 * CFSSL's CSR error (9300) whose message is Go's "ECDSA verification
 * failure" / "verification error" (`cfsslRefusal`).
 */
const CSR_SIGNATURE_REFUSED: ExpectedRefusal = {
  what: "a refusal of the request's signature (400 bad-csr-signature)",
  rules: [
    { status: [400, 422], reason: ["bad-csr-signature"] },
  ],
};

/**
 * The key is too weak: the embedded CA and a served one (400 weak-key). A CA
 * may refuse it as a policy matter (403). OpenSSL's `openssl ca` and CFSSL
 * 1.2 do not check key sizes at all (they issue: ISS-WEAK-KEY fails).
 */
const WEAK_KEY_REFUSED: ExpectedRefusal = {
  what: "a refusal of the weak key (400 weak-key)",
  rules: [{ status: [400, 403, 422], reason: ["weak-key"] }],
};

/**
 * The positive control of a check that wants a refusal: a request right in
 * the one thing under test (`right`: a signature that verifies, a P-256 key)
 * is issued. The shared card's authentication certificate shows it at no
 * extra request. Refused for the very reason under test (`wrongly`), the CA
 * refuses what is right: a fail, and its refusal of the faulty request would
 * show nothing. Not issued for any other reason (the other ISS-* checks judge
 * that): nothing shows the CA issues at all, so not judged.
 */
async function controlIssued(ctx: CheckContext, right: string, wrongly: ExpectedRefusal, rule: string): Promise<Issued | Verdict> {
  try {
    return await ctx.fx.auth();
  } catch (err) {
    if (err instanceof NotJudged || err instanceof Precondition) throw err;
    if (isCaRefusal(err) && refusedFor(err, wrongly)) {
      return fail(`the CA refused a well-formed request (${right}) with ${err.status} ${err.reason}: it refuses what is right (${rule}), so its refusal of a faulty request shows nothing`, {
        control: right,
        ...refusalEvidence(err),
      });
    }
    const j = judgeThrown(err);
    throw new NotJudged(
      j.cause ?? "refused-otherwise",
      `the control, a well-formed request (${right}), was not issued (${j.message}): whether the CA refuses the faulty one for its reason is unknown`,
      j.fix ?? "see the other ISS-* checks, which judge the CA's ordinary issuance",
      { control: right, ...j.evidence },
    );
  }
}

/**
 * A request the CA must refuse, for the reason `expected` names, once the
 * control (`controlIssued`) shows the CA issues the same kind of request when
 * that one thing is right: issued is a fail; refused for that reason a pass;
 * refused for another (a profile, a body limit, the holder) teaches nothing:
 * not judged.
 */
async function mustRefuse(ctx: CheckContext, csrPem: string, what: string, expected: ExpectedRefusal, control: { right: string; rule: string }): Promise<Verdict> {
  const issuedRight = await controlIssued(ctx, control.right, expected, control.rule);
  if (!("issued" in issuedRight)) return issuedRight;
  const controlEvidence = { control: { right: control.right, serial: issuedRight.issued.serial } };
  const holder = ctx.fx.holder(what);
  try {
    // With the station's credential: the refusal must be about the request, not about who sent it (a 401 is not judged).
    const issued = await ctx.ca.issue({ csrPem, profile: "authentication", holder, cardExpiry: ctx.fx.defaultCardExpiry(), raToken: ctx.fx.credentials().raToken });
    return fail(`the CA issued a certificate for ${what}`, { request: csrPem, serial: issued.serial, certificate: issued.certificatePem, ...controlEvidence });
  } catch (err) {
    const r = refusal(err);
    if (!refusedFor(r, expected)) throw refusedOtherwise(r, expected.what, { request: csrPem, ...controlEvidence });
    return pass(`refused: ${r.status} ${r.reason}; ${control.right} was issued`, { request: csrPem, ...refusalEvidence(r), ...controlEvidence });
  }
}

/**
 * Whether a batch's serials can hold 64 random bits, judged on what the CA
 * controls: each serial's value (its DER INTEGER contents without a 0x00
 * sign octet), for the batch as a whole, never one serial alone. A serial
 * holding 64 uniformly random bits (whatever fixed bits sit above them) is at
 * most 64 - j bits long with probability at most 2^-j (its top j random bits
 * all zero); n independent ones are ALL that short with probability at most
 * 2^-(n*j). So the batch fails when its longest serial is at most 64 - j
 * bits, j = ceil(32 / n): a CA with 64 random bits fails less than once in
 * 2^32 runs, whatever n (16 serials: longest <= 62 bits fails; 4: <= 56),
 * where judging each serial by its own length failed such a CA whenever one
 * serial began with a zero nibble (most runs).
 */
function serialWidth(bitLengths: number[]): { longestBits: number; failAtOrBelowBits: number } {
  const j = Math.max(1, Math.ceil(32 / bitLengths.length));
  return { longestBits: Math.max(...bitLengths), failAtOrBelowBits: 64 - j };
}

/** A serial's value from the certificate's own bytes (DER INTEGER contents), as hex without leading zeros. */
const certSerial = (c: Issued) => normSerial(c.info.serialRawHex);

const DAY_MS = 86_400_000;
/** The least validity left in which a card's expiry can fall halfway and still be told apart from the CA's own end. */
const MIN_CAP_ROOM_MS = 120_000;

/** Every ISS-* check judges what the CA issued, sent with the issuing station's credential. */
const ISSUANCE: Pick<Check, "judges" | "credentials"> = { judges: ["issuance"], credentials: ["raToken"] };

export const issuanceChecks: Check[] = [
  {
    id: "ISS-VALIDITY-MAX",
    title: "Certificate validity does not exceed the policy maximum",
    source: "lifecycle policy: issue (at most the policy's lifetime, 3 years by default)",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const bad: string[] = [];
      const seen: Record<string, unknown>[] = [];
      for (const c of await profileCerts(ctx)) {
        const limit = addYears(c.info.notBefore, ctx.policy.lifetimeYears);
        seen.push({ serial: c.issued.serial, notBefore: c.info.notBefore, notAfter: c.info.notAfter, limit });
        if (c.info.notAfter > limit) bad.push(`${c.issued.serial}: notAfter ${c.info.notAfter.toISOString()} > ${limit.toISOString()}`);
      }
      return bad.length ? fail(`validity longer than ${ctx.policy.lifetimeYears} years: ${bad.join("; ")}`, { certificates: seen }) : pass("within the policy maximum", { certificates: seen });
    },
  },
  {
    id: "ISS-VALIDITY-CARD-EXPIRY",
    title: "No certificate outlives the card it is issued for",
    source: "lifecycle policy: issue (never beyond the card's expiry)",
    level: "MUST",
    ...ISSUANCE,
    needs: ["cardExpiryCap"],
    async run(ctx) {
      if (!ctx.policy.capAtCardExpiry) return skip(`the policy ${ctx.policy.name} does not cap certificates at the card's expiry`);
      // The card must expire well before the CA's own validity would end, or a notAfter before it proves no cap:
      // halfway through the validity the CA gives a card that outlives it (the shared certificate's), 400 days at most.
      const uncapped = await ctx.fx.auth();
      const now = ctx.clock.nowMs();
      const room = uncapped.info.notAfter.getTime() - Math.max(now, uncapped.info.notBefore.getTime());
      if (room < MIN_CAP_ROOM_MS) {
        throw new Precondition(`the CA's certificates are valid for ${Math.round(room / 1000)} s: too short to show a cap at the card's expiry`, { ...certEvidence(uncapped), notAfter: uncapped.info.notAfter });
      }
      const cardExpiry = new Date(Math.floor((now + Math.min(400 * DAY_MS, room / 2)) / 1000) * 1000);
      const c = await ctx.fx.issue("authentication", { cardExpiry });
      const ev = { ...certEvidence(c), cardExpiry, notAfter: c.info.notAfter, uncappedNotAfter: uncapped.info.notAfter, uncappedSerial: uncapped.issued.serial };
      return c.info.notAfter.getTime() <= cardExpiry.getTime()
        ? pass("notAfter is capped at the card's expiry", ev)
        : fail(`notAfter ${c.info.notAfter.toISOString()} is after the card's expiry ${cardExpiry.toISOString()}: the certificate outlives the card it is issued for`, ev);
    },
  },
  {
    id: "ISS-VALIDITY-CURRENT",
    title: "A new certificate is valid now (notBefore not in the future)",
    source: "RFC 5280 4.1.2.5",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const now = ctx.clock.now();
      const ev = { ...certEvidence(c), now, notBefore: c.info.notBefore, notAfter: c.info.notAfter, skewMs: ctx.options.clockSkewMs };
      if (c.info.notBefore.getTime() > now.getTime() + ctx.options.clockSkewMs) return fail(`notBefore ${c.info.notBefore.toISOString()} is in the future`, ev);
      if (c.info.notAfter <= now) return fail("notAfter is already past", ev);
      return pass("valid at issuance", ev);
    },
  },
  {
    id: "ISS-KEYUSAGE-AUTH",
    title: "Authentication certificates carry keyUsage digitalSignature and no CA usages",
    source: "RFC 5280 4.2.1.3; lifecycle policy: authentication profile",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), keyUsage: c.info.keyUsage ?? null };
      if (!c.info.keyUsage) return fail("no keyUsage extension", ev);
      if (!c.info.keyUsage.names.includes("digitalSignature")) return fail(`keyUsage lacks digitalSignature: ${c.info.keyUsage.names.join(",")}`, ev);
      const ca = c.info.keyUsage.names.filter((n) => n === "keyCertSign" || n === "cRLSign");
      if (ca.length) return fail(`keyUsage grants CA usages: ${ca.join(",")}`, ev);
      return pass(`keyUsage ${c.info.keyUsage.names.join(",")}`, ev);
    },
  },
  {
    id: "ISS-EKU-AUTH",
    title: "Authentication certificates carry extendedKeyUsage clientAuth",
    source: "RFC 5280 4.2.1.12; lifecycle policy: authentication profile",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), extKeyUsage: c.info.extKeyUsage ?? null };
      if (!c.info.extKeyUsage) return fail("no extendedKeyUsage extension", ev);
      return c.info.extKeyUsage.includes(EKU.clientAuth) ? pass("clientAuth present", ev) : fail(`clientAuth missing: ${c.info.extKeyUsage.join(",")}`, ev);
    },
  },
  {
    id: "ISS-KEYUSAGE-SIGN",
    title: "Signature certificates carry keyUsage nonRepudiation (contentCommitment) and digitalSignature",
    source: "RFC 5280 4.2.1.3; lifecycle policy: signature profile",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.sign();
      const ev = { ...certEvidence(c), keyUsage: c.info.keyUsage ?? null };
      if (!c.info.keyUsage) return fail("no keyUsage extension", ev);
      const missing = ["nonRepudiation", "digitalSignature"].filter((n) => !c.info.keyUsage!.names.includes(n));
      return missing.length ? fail(`keyUsage lacks ${missing.join(",")}`, ev) : pass(`keyUsage ${c.info.keyUsage.names.join(",")}`, ev);
    },
  },
  {
    id: "ISS-NOT-CA",
    title: "End-entity certificates are not CA certificates",
    source: "RFC 5280 4.2.1.9",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const bad: string[] = [];
      const seen: Record<string, unknown>[] = [];
      for (const c of await profileCerts(ctx)) {
        seen.push({ serial: c.issued.serial, basicConstraints: c.info.basicConstraints ?? null });
        if (c.info.basicConstraints?.ca) bad.push(c.issued.serial);
      }
      return bad.length ? fail(`basicConstraints cA=TRUE on ${bad.join(", ")}`, { certificates: seen }) : pass("no end-entity certificate is a CA", { certificates: seen });
    },
  },
  {
    id: "ISS-SERIAL-FORMAT",
    title: "Serial numbers are positive and at most 20 octets",
    source: "RFC 5280 4.1.2.2",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const bad: string[] = [];
      const seen: Record<string, unknown>[] = [];
      for (const c of await profileCerts(ctx)) {
        const raw = c.info.serialRawHex;
        const octets = raw.length / 2;
        const negative = parseInt(raw.slice(0, 2), 16) >= 0x80;
        const zero = /^0*$/.test(raw);
        seen.push({ serial: c.issued.serial, derContents: raw, octets });
        if (negative) bad.push(`${raw} is negative`);
        else if (zero) bad.push("serial is zero");
        if (octets > 20) bad.push(`${raw} is ${octets} octets`);
      }
      return bad.length ? fail(bad.join("; "), { serials: seen }) : pass("positive, at most 20 octets", { serials: seen });
    },
  },
  {
    id: "ISS-SERIAL-ENTROPY",
    title: "Serial numbers carry at least 64 unpredictable bits",
    source: "lifecycle policy: serial numbers (CA/B BR 7.1 practice)",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const { issued } = await ctx.fx.batch();
      // In ascending order: the evidence does not depend on which request the CA answered first.
      const values = [...new Set(issued.map(certSerial))].map((s) => BigInt("0x" + s)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const serials = values.map((v) => v.toString(16));
      if (serials.length < 2) throw new Precondition("fewer than two distinct serials to compare: see ISS-CONCURRENT-SERIALS", { serials });
      const bitLengths = values.map((v) => v.toString(2).length);
      const { longestBits, failAtOrBelowBits } = serialWidth(bitLengths);
      let minGap: bigint | undefined;
      for (let i = 1; i < values.length; i++) {
        const gap = values[i] - values[i - 1];
        if (minGap === undefined || gap < minGap) minGap = gap;
      }
      const ev = { serials, bitLengths, longestBits, failAtOrBelowBits, minGap: minGap?.toString(16) };
      if (longestBits <= failAtOrBelowBits) {
        return fail(
          `the longest of ${serials.length} serials is ${longestBits} bits: serials that are never longer than ${failAtOrBelowBits} bits cannot carry 64 random bits (a CA with 64 random bits would show this less than once in 2^32 runs)`,
          ev,
        );
      }
      // Back-to-back serials closer than 2^32 are a counter, not randomness.
      if (minGap !== undefined && minGap < 1n << 32n) return fail(`serials issued back to back differ by only 0x${minGap.toString(16)}: predictable`, ev);
      return pass(`${serials.length} serials, the longest ${longestBits} bits (wide enough for 64 random bits), no two within 2^32`, ev);
    },
  },
  {
    id: "ISS-AKI",
    title: "authorityKeyIdentifier present and equal to the issuer's key identifier",
    source: "RFC 5280 4.2.1.1",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      // The certificate's issuer, by name, among what the CA handed out: comparing with another CA's key proves nothing.
      const candidates = [...c.issued.chainPem, ...(await ctx.ca.anchors())];
      const issuerPem = candidates.find((p) => certInfo(p).subject === c.info.issuer);
      if (!issuerPem) throw new Precondition(`the CA handed out no certificate of this certificate's issuer (${c.info.issuer}): see ISS-SIGNATURE`, { ...certEvidence(c), chain: c.issued.chainPem });
      const issuer = certInfo(issuerPem);
      const expected = issuer.ski ?? keyHash(issuerPem);
      const ev = { ...certEvidence(c), aki: c.info.aki ?? null, issuerSki: expected, issuer: issuerPem };
      if (!c.info.aki) return fail("no authorityKeyIdentifier keyIdentifier", ev);
      return c.info.aki.toLowerCase() === expected.toLowerCase() ? pass("matches the issuer", ev) : fail("authorityKeyIdentifier does not match the issuer's key identifier", ev);
    },
  },
  {
    id: "ISS-SKI",
    title: "subjectKeyIdentifier present",
    source: "RFC 5280 4.2.1.2; lifecycle policy: AKI/SKI",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), ski: c.info.ski ?? null };
      return c.info.ski ? pass("present", ev) : fail("no subjectKeyIdentifier", ev);
    },
  },
  {
    id: "ISS-SIGNATURE",
    title: "Certificates verify under the issuing CA, which chains to a trust anchor",
    source: "RFC 5280 6.1.3 (a)(1), 6.1",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const chain = c.issued.chainPem;
      const anchors = await ctx.ca.anchors();
      const ev = { ...certEvidence(c), chain, anchors };
      // The relying party's path validation (pki/), at a time inside the validity period: this
      // check is about signatures and chaining; the dates are ISS-VALIDITY-*'s business.
      const at = Math.max(ctx.clock.nowMs(), c.info.notBefore.getTime());
      const r = validate(c.info.der, {
        anchors: anchors.map((p) => pemToDer(p)),
        intermediates: chain.map((p) => pemToDer(p)),
        time: Math.min(at, c.info.notAfter.getTime() - 1),
        revocation: "off",
        // The section 4 profile (serials, AKI, ...) has checks of its own: one fault, one failed check.
        profile: "lenient",
      });
      if (r.valid) return pass(`valid path of ${r.path.length} certificates up to an anchor`, ev);
      return fail(`path validation: ${r.code} at position ${r.position}: ${r.detail}`, { ...ev, code: r.code, position: r.position });
    },
  },
  {
    id: "ISS-PUBLIC-KEY",
    title: "The certificate certifies the key from the request",
    source: "RFC 2986 3; lifecycle policy: keys generated on the card",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), requested: c.requestedSpki, certified: c.info.spkiHex };
      return c.info.spkiHex === c.requestedSpki ? pass("same SubjectPublicKeyInfo", ev) : fail("the certified key is not the requested key", ev);
    },
  },
  {
    id: "ISS-AIA-OCSP",
    title: "authorityInfoAccess names an OCSP responder",
    source: "RFC 5280 4.2.2.1; lifecycle policy: relying parties check revocation",
    level: "SHOULD",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), ocspUrls: c.info.ocspUrls };
      return c.info.ocspUrls.length ? pass(c.info.ocspUrls.join(" "), ev) : fail("no OCSP URL in authorityInfoAccess", ev);
    },
  },
  {
    id: "ISS-CRL-DP",
    title: "cRLDistributionPoints names where the CRL is",
    source: "RFC 5280 4.2.1.13",
    level: "SHOULD",
    ...ISSUANCE,
    async run(ctx) {
      const c = await ctx.fx.auth();
      const ev = { ...certEvidence(c), crlUrls: c.info.crlUrls };
      return c.info.crlUrls.length ? pass(c.info.crlUrls.join(" "), ev) : fail("no cRLDistributionPoints URL", ev);
    },
  },
  {
    id: "ISS-CSR-SIGNATURE",
    title: "A request whose signature does not verify is refused",
    source: "RFC 2986 3 (proof of possession); lifecycle policy: issue",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const csr = await makeCsr("Broken Signature");
      return mustRefuse(ctx, breakSignature(csr.pem), "a request with a broken signature", CSR_SIGNATURE_REFUSED, {
        right: "a request whose signature verifies",
        rule: "RFC 2986 3: a request whose signature verifies proves possession of the key",
      });
    },
  },
  {
    id: "ISS-WEAK-KEY",
    title: "A request for an RSA-1024 key is refused",
    source: "lifecycle policy: issue (RSA < 2048 refused); NIST SP 800-131A",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const csr = await makeCsr("Weak Key", "rsa1024");
      return mustRefuse(ctx, csr.pem, "an RSA-1024 key", WEAK_KEY_REFUSED, {
        right: "a P-256 key",
        rule: "NIST SP 800-131A: P-256 is an acceptable key",
      });
    },
  },
  {
    id: "ISS-CONCURRENT-SERIALS",
    title: "Concurrent issuance succeeds with unique serial numbers",
    source: "RFC 5280 4.1.2.2 (unique per CA)",
    level: "MUST",
    ...ISSUANCE,
    async run(ctx) {
      const { issued, retried, rejections }: Batch = await ctx.fx.batch();
      const serials = issued.map(certSerial);
      const dup = serials.filter((s, i) => serials.indexOf(s) !== i);
      const n = ctx.options.concurrency;
      const errors = rejections.map((e) => String((e as Error)?.message ?? e));
      const ev: Record<string, unknown> = { requested: n, issued: serials.length, serials, errors, retriedAfter429: retried };
      if (dup.length) return fail(`duplicate serials: ${[...new Set(dup)].join(", ")}: RFC 5280 4.1.2.2 wants each serial unique per CA`, ev);
      if (rejections.length) {
        // Each rejection as judgement.ts reads any exception: a 5xx (or bytes that do not decode) is the CA failing a
        // well-formed request under load; a 429 left after the retries, a connection reset, a refusal for another
        // reason say nothing about the serials: not judged, with the first one's cause.
        const judged = rejections.map(judgeThrown);
        ev.rejections = judged.map((j) => ({ outcome: j.outcome, ...(j.cause ? { cause: j.cause } : {}), message: j.message, ...j.evidence }));
        const failed = judged.filter((j) => j.outcome === "fail");
        if (failed.length) return fail(`${failed.length} of ${n} concurrent requests failed: ${failed[0].message}`, ev);
        const first = judged[0];
        return unjudged(
          first.cause ?? "harness",
          `${rejections.length} of ${n} concurrent requests were not issued (the first: ${first.message}): whether concurrent issuance keeps serials unique is unknown`,
          first.fix ?? "a bug in cardloop: report it with the run log (run.jsonl)",
          ev,
        );
      }
      return pass(`${serials.length} concurrent issuances, all serials distinct`, ev);
    },
  },
];
