import { REASON_CODES } from "../../core/index.js";
import { certInfo, crlSignedBy, keyHash, normSerial, type CrlInfo } from "../pkix.js";
import type { Watch } from "./fixtures.js";
import { fail, pass, Precondition, skip, type Check, type CheckContext } from "./types.js";

const crlEvidence = (c: CrlInfo) => ({
  crl: Buffer.from(c.der).toString("base64"),
  issuer: c.issuer,
  thisUpdate: c.thisUpdate,
  nextUpdate: c.nextUpdate ?? null,
  crlNumber: c.number?.toString() ?? null,
  entries: c.entries.size,
});

/** The CRL that lists the watched revocation; when none did, PROP-CRL has already said so. */
async function listing(ctx: CheckContext): Promise<{ w: Watch; crl: CrlInfo }> {
  const w = await ctx.fx.watch();
  if (!w.crl.seen) throw new Precondition("the revoked certificate never appeared on the CRL: see PROP-CRL", { serial: w.cert.issued.serial });
  return { w, crl: w.crl.seen };
}

export const crlChecks: Check[] = [
  {
    id: "CRL-SIGNATURE",
    title: "The CRL is signed by the issuing CA and names it as issuer",
    source: "RFC 5280 5.1.1.3, 6.3.3 (f)",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      const issuerPem = await ctx.fx.issuerPem();
      const crl = await ctx.fx.crl();
      const issuer = certInfo(issuerPem);
      const ev = { ...crlEvidence(crl), expectedIssuer: issuer.subject };
      if (crl.issuer !== issuer.subject) return fail(`CRL issuer ${crl.issuer} is not ${issuer.subject}`, ev);
      return (await crlSignedBy(crl.der, issuerPem)) ? pass("signature verifies with the issuing CA's key", ev) : fail("the CRL signature does not verify with the issuing CA's key", ev);
    },
  },
  {
    id: "CRL-NUMBER",
    title: "The CRL carries a CRL number",
    source: "RFC 5280 5.2.3",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      const crl = await ctx.fx.crl();
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
    async run(ctx) {
      const issuerPem = await ctx.fx.issuerPem();
      const crl = await ctx.fx.crl();
      const expected = certInfo(issuerPem).ski ?? keyHash(issuerPem);
      const ev = { ...crlEvidence(crl), aki: crl.aki ?? null, issuerSki: expected };
      if (!crl.aki) return fail("no authorityKeyIdentifier on the CRL", ev);
      return crl.aki.toLowerCase() === expected.toLowerCase() ? pass("matches the issuer", ev) : fail("authorityKeyIdentifier does not match the issuer", ev);
    },
  },
  {
    id: "CRL-TIMES",
    title: "thisUpdate is not in the future; nextUpdate is present and still ahead",
    source: "RFC 5280 5.1.2.4, 5.1.2.5",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      const crl = await ctx.fx.crl();
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
    async run(ctx) {
      await ctx.fx.watch(); // its polling fetches CRLs before and after a revocation
      await ctx.fx.crl();
      const distinct: CrlInfo[] = [];
      for (const c of ctx.fx.crlHistory) {
        const prev = distinct[distinct.length - 1];
        if (!prev || Buffer.compare(Buffer.from(prev.der), Buffer.from(c.der)) !== 0) distinct.push(c);
      }
      const seq = distinct.map((c) => ({ thisUpdate: c.thisUpdate, crlNumber: c.number?.toString() ?? null, entries: c.entries.size }));
      if (distinct.some((c) => c.number === undefined)) return skip("CRLs without a CRL number: see CRL-NUMBER", { sequence: seq });
      if (distinct.length < 2) return skip("the CA issued only one CRL during the run", { sequence: seq });
      for (let i = 1; i < distinct.length; i++) {
        if (distinct[i].number! <= distinct[i - 1].number!) {
          return fail(`CRL number went from ${distinct[i - 1].number} to ${distinct[i].number} for a new CRL`, { sequence: seq });
        }
      }
      return pass(`${distinct.length} CRLs, numbers strictly increasing`, { sequence: seq });
    },
  },
  {
    id: "CRL-ENTRY-REASON",
    title: "A CRL entry carries the revocation reason",
    source: "RFC 5280 5.3.1",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      const { w, crl } = await listing(ctx);
      const entry = crl.entries.get(normSerial(w.cert.issued.serial))!;
      const ev = { serial: entry.serial, revocationDate: entry.revocationDate, reasonCode: entry.reason ?? null, expected: REASON_CODES.keyCompromise, crl: Buffer.from(crl.der).toString("base64") };
      if (entry.reason === undefined) return fail("the entry has no reasonCode (revoked for keyCompromise)", ev);
      return entry.reason === REASON_CODES.keyCompromise ? pass("keyCompromise (1)", ev) : fail(`reasonCode ${entry.reason}, expected keyCompromise (1)`, ev);
    },
  },
  {
    id: "CRL-ENTRY-DATE",
    title: "A CRL entry's revocationDate is when the revocation happened, and stays so",
    source: "RFC 5280 5.1.2.6",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      await listing(ctx);
      const later = await ctx.fx.watchLater();
      const crl = later.crl.seen;
      if (!crl) throw new Precondition("the later revocation never appeared on the CRL: see PROP-CRL");
      const serial = normSerial(later.first.cert.issued.serial);
      const entry = crl.entries.get(serial);
      const revokedAt = later.first.revocation.revokedAt;
      const ev = { serial, acknowledgedRevokedAt: revokedAt, crlRevocationDate: entry?.revocationDate ?? null, crlThisUpdate: crl.thisUpdate, crl: Buffer.from(crl.der).toString("base64") };
      if (!entry) return fail("a revoked certificate dropped off a later CRL", ev);
      // CRL times have one-second resolution.
      const diff = Math.abs(entry.revocationDate.getTime() - revokedAt.getTime());
      return diff < 1000 ? pass("revocationDate is the acknowledged revocation time", ev) : fail(`revocationDate is ${diff} ms away from the acknowledged revocation time`, ev);
    },
  },
];
