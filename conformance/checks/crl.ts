import { REASON_CODES } from "../../core/index.js";
import { certInfo, crlPem, crlSignedBy, keyHash, normSerial, type CrlInfo } from "../pkix.js";
import type { Watch } from "./fixtures.js";
import { notShown, requestWindow, revokedWithinRequest } from "./observe.js";
import { fail, pass, Precondition, skip, type Check, type CheckContext } from "./types.js";

/**
 * The CRL checks judge the issuing CA's CRL: one its issuer names and signs
 * (CRL-SIGNATURE judges that). A CRL anyone else signed says nothing about
 * this CA, so the other checks do not judge its number, times or entries:
 * they skip, pointing at CRL-SIGNATURE, and the defect is reported once.
 * Evidence carries CRLs as PEM (`openssl crl -text -noout`) and the issuer as
 * a PEM certificate.
 */

const crlEvidence = (c: CrlInfo) => ({
  crl: crlPem(c.der),
  issuer: c.issuer,
  thisUpdate: c.thisUpdate,
  nextUpdate: c.nextUpdate ?? null,
  crlNumber: c.number?.toString() ?? null,
  entries: c.entries.size,
  howToRead: "save the PEM as crl.pem; openssl crl -in crl.pem -text -noout",
});

const NOT_THE_ISSUERS = "the CRL is not signed by the issuing CA, so nothing on it is the CA's word: see CRL-SIGNATURE";

/** The CA's current CRL, when its issuer signed it. */
async function issuerCrl(ctx: CheckContext): Promise<CrlInfo> {
  const crl = await ctx.fx.crl();
  if (!(await ctx.fx.signedByIssuer(crl))) throw new Precondition(NOT_THE_ISSUERS, { crl: crlPem(crl.der), crlIssuer: crl.issuer });
  return crl;
}

/**
 * The issuer-signed CRL that lists the watched revocation. When none did:
 * PROP-CRL fails on it (the watch is its first sample), or CRL-SIGNATURE
 * when no CRL came back signed by the issuing CA at all, or certify could not
 * look (not judged: throttled, unreachable).
 */
async function listing(ctx: CheckContext): Promise<{ w: Watch; crl: CrlInfo }> {
  const w = await ctx.fx.watch();
  if (!w.crl.seen) throw notShown(w.crl, ON_THE_CRL, { serial: w.cert.issued.serial });
  return { w, crl: w.crl.seen };
}

const ON_THE_CRL = { name: "the CRL", propagationCheck: "PROP-CRL" };

/** CRL times have one-second resolution: a time written there is up to 999 ms before the instant. */
const CRL_TIME_RESOLUTION_MS = 1000;

export const crlChecks: Check[] = [
  {
    id: "CRL-SIGNATURE",
    title: "The CRL is signed by the issuing CA and names it as issuer",
    source: "RFC 5280 5.1.1.3, 6.3.3 (f)",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl"],
    async run(ctx) {
      const issuerPem = await ctx.fx.issuerPem();
      const crl = await ctx.fx.crl();
      const issuer = certInfo(issuerPem);
      const ev = { ...crlEvidence(crl), expectedIssuer: issuer.subject, issuerCertificate: issuerPem };
      if (crl.issuer !== issuer.subject) return fail(`CRL issuer ${crl.issuer} is not the issuing CA ${issuer.subject} (RFC 5280 6.3.3 (b))`, ev);
      return (await crlSignedBy(crl.der, issuerPem))
        ? pass("signature verifies with the issuing CA's key", ev)
        : fail("the CRL signature does not verify with the issuing CA's key: relying parties must reject it (RFC 5280 6.3.3 (f))", ev);
    },
  },
  {
    id: "CRL-NUMBER",
    title: "The CRL carries a CRL number",
    source: "RFC 5280 5.2.3",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl"],
    async run(ctx) {
      const crl = await issuerCrl(ctx);
      const ev = crlEvidence(crl);
      if (crl.number === undefined) return fail("no cRLNumber extension", ev);
      return crl.number < 1n << 159n ? pass(`CRL number ${crl.number}`, ev) : fail("CRL number longer than 20 octets", ev);
    },
  },
  {
    id: "CRL-AKI",
    title: "The CRL carries the issuing CA's key identifier",
    source: "RFC 5280 5.2.1",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl"],
    async run(ctx) {
      const issuerPem = await ctx.fx.issuerPem();
      const crl = await issuerCrl(ctx);
      const expected = certInfo(issuerPem).ski ?? keyHash(issuerPem);
      const ev = { ...crlEvidence(crl), aki: crl.aki ?? null, issuerSki: expected, issuerCertificate: issuerPem };
      if (!crl.aki) return fail("no authorityKeyIdentifier on the CRL", ev);
      return crl.aki.toLowerCase() === expected.toLowerCase() ? pass("matches the issuer", ev) : fail("authorityKeyIdentifier does not match the issuing CA's subjectKeyIdentifier", ev);
    },
  },
  {
    id: "CRL-TIMES",
    title: "thisUpdate is not in the future; nextUpdate is present and still ahead",
    source: "RFC 5280 5.1.2.4, 5.1.2.5",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl"],
    async run(ctx) {
      const crl = await issuerCrl(ctx);
      const now = ctx.clock.now();
      const ev = { ...crlEvidence(crl), now };
      if (crl.thisUpdate.getTime() > now.getTime() + ctx.options.clockSkewMs) return fail("thisUpdate is in the future", ev);
      if (!crl.nextUpdate) return fail("no nextUpdate", ev);
      if (crl.nextUpdate <= crl.thisUpdate) return fail("nextUpdate is not after thisUpdate", ev);
      if (crl.nextUpdate <= now) return fail(`nextUpdate ${crl.nextUpdate.toISOString()} has passed: the CRL is stale`, ev);
      return pass(`valid until ${crl.nextUpdate.toISOString()}`, ev);
    },
  },
  {
    id: "CRL-NUMBER-INCREASING",
    title: "Each new CRL has a greater CRL number",
    source: "RFC 5280 5.2.3 (monotonically increasing)",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl"],
    async run(ctx) {
      await ctx.fx.watch(); // it fetches a CRL before its revocation, and polls after it
      await ctx.fx.crl();
      // Only the issuing CA's CRLs, in the order fetched; one fetched twice is one CRL.
      const distinct: CrlInfo[] = [];
      let others = 0;
      for (const c of ctx.fx.crlHistory) {
        if (!(await ctx.fx.signedByIssuer(c))) {
          others++;
          continue;
        }
        // the signed content, not the DER: an ECDSA signature differs on each signing of one CRL
        const prev = distinct[distinct.length - 1];
        if (!prev || Buffer.compare(Buffer.from(prev.tbs), Buffer.from(c.tbs)) !== 0) distinct.push(c);
      }
      const seq = distinct.map((c) => ({ thisUpdate: c.thisUpdate, crlNumber: c.number?.toString() ?? null, entries: c.entries.size }));
      const ev = { sequence: seq, notSignedByTheIssuer: others };
      if (distinct.length === 0 && others > 0) throw new Precondition(NOT_THE_ISSUERS, ev);
      if (distinct.some((c) => c.number === undefined)) return skip("CRLs without a CRL number: see CRL-NUMBER", ev);
      if (distinct.length < 2) return skip("the CA issued only one CRL during the run", ev);
      for (let i = 1; i < distinct.length; i++) {
        if (distinct[i].number! <= distinct[i - 1].number!) {
          return fail(`CRL number went from ${distinct[i - 1].number} to ${distinct[i].number} for a new CRL`, { ...ev, earlier: crlPem(distinct[i - 1].der), later: crlPem(distinct[i].der) });
        }
      }
      return pass(`${distinct.length} CRLs, numbers strictly increasing`, ev);
    },
  },
  {
    id: "CRL-ENTRY-REASON",
    title: "A CRL entry carries the revocation reason",
    source: "RFC 5280 5.3.1",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl", "revocation"],
    async run(ctx) {
      const { w, crl } = await listing(ctx);
      const expected = REASON_CODES[w.reason];
      // RFC 5280 5.3.1: unspecified is written by leaving reasonCode out, so an entry without one is right.
      if (expected === REASON_CODES.unspecified) throw new Precondition("the policy lets a holder give only unspecified, which a CRL entry states by carrying no reasonCode: nothing to compare");
      const entry = crl.entries.get(normSerial(w.cert.issued.serial))!;
      const ev = { serial: entry.serial, askedReason: w.reason, revocationDate: entry.revocationDate, reasonCode: entry.reason ?? null, expected, ...crlEvidence(crl) };
      if (entry.reason === undefined) return fail(`the entry has no reasonCode (revoked for ${w.reason})`, ev);
      return entry.reason === expected ? pass(`${w.reason} (${expected})`, ev) : fail(`reasonCode ${entry.reason}, expected ${w.reason} (${expected})`, ev);
    },
  },
  {
    id: "CRL-ENTRY-DATE",
    title: "A CRL entry's revocationDate is when the revocation happened, and stays so",
    source: "RFC 5280 5.1.2.6",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl", "revocation"],
    async run(ctx) {
      await listing(ctx);
      const later = await ctx.fx.watchLater();
      // the CRL listing the later revocation; if that never came, the last one the issuing CA signed since
      const crl = later.crl.seen ?? later.crl.last;
      if (!crl) throw notShown(later.crl, ON_THE_CRL, { serial: later.second.issued.serial });
      const first = later.first;
      const serial = normSerial(first.cert.issued.serial);
      const entry = crl.entries.get(serial);
      const revokedAt = first.revocation.revokedAt;
      const skew = ctx.options.clockSkewMs;
      const ev = {
        serial,
        acknowledgedRevokedAt: revokedAt,
        ...requestWindow(first, skew),
        crlRevocationDate: entry?.revocationDate ?? null,
        laterRevocationListed: later.crl.seen !== undefined,
        ...crlEvidence(crl),
      };
      if (!entry) return fail("a revoked certificate dropped off a later CRL (RFC 5280 5.1.2.6: an entry stays until the certificate expires)", ev);
      const date = entry.revocationDate;
      if (!revokedWithinRequest(date, first, skew, CRL_TIME_RESOLUTION_MS)) {
        return fail(`revocationDate ${date.toISOString()} is not when the revocation happened: certify asked at ${new Date(first.requestedAtMs).toISOString()} and the CA acknowledged at ${new Date(first.acknowledgedAtMs).toISOString()} (RFC 5280 5.1.2.6: the date on which the revocation occurred)`, ev);
      }
      const diff = Math.abs(date.getTime() - revokedAt.getTime());
      return diff < CRL_TIME_RESOLUTION_MS
        ? pass("revocationDate is the acknowledged revocation time, within the request, on a later CRL too", ev)
        : fail(`revocationDate is ${diff} ms away from the acknowledged revocation time`, ev);
    },
  },
];
