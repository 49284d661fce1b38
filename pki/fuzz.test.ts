import test from "ava";
import fc from "fast-check";
import { Certificate, Crl, DecodeError, OcspResponse, Validator, readPemOrDer } from "./index.js";
import { KU, buildCert, buildCrl, buildOcsp, name, newKey } from "./testing/builder.js";
import { certDer, crlDer } from "./testing/pkits.js";

/**
 * Fuzz: mutated certificates, CRLs and OCSP responses never raise anything but
 * DecodeError, neither when decoded (every lazy field forced) nor when validated.
 * Never hanging is by construction (every loop advances); this test finishing is the check.
 */

const anchor = certDer("TrustAnchorRootCertificate");
const goodCa = certDer("GoodCACert");
const seeds: { cert: Uint8Array[]; crl: Uint8Array[]; ocsp: Uint8Array[] } = {
  cert: [certDer("ValidCertificatePathTest1EE"), goodCa, certDer("ValidDSAParameterInheritanceTest5EE"), certDer("ValidUTF8StringEncodedNamesTest9EE")],
  crl: [crlDer("GoodCACRL"), crlDer("UnknownCRLEntryExtensionCACRL"), crlDer("TrustAnchorRootCRL")],
  ocsp: [],
};
{
  const T = Date.UTC(2011, 3, 15);
  const k = newKey("p256");
  const n = name(["CN", "fuzz CA"]);
  const resp = newKey("p256");
  const delegate = buildCert({ serial: 3, issuer: n, subject: name(["CN", "resp"]), notBefore: T - 1e9, notAfter: T + 1e9, subjectKey: resp, issuerKey: k, keyUsage: KU.digitalSignature, eku: ["1.3.6.1.5.5.7.3.9"] });
  seeds.ocsp.push(
    buildOcsp({ responderName: name(["CN", "resp"]), signer: resp, producedAt: T, certs: [delegate], nonce: new Uint8Array([1, 2, 3]), responses: [{ issuerName: n, issuerKey: k, serial: 5, status: "revoked", revocationTime: T - 1e6, reason: 1, thisUpdate: T, nextUpdate: T + 1e6 }] }),
  );
  seeds.crl.push(buildCrl({ issuer: n, issuerKey: k, thisUpdate: T, nextUpdate: T + 1e9, entries: [{ serial: 5, date: T, reason: 6, invalidity: T - 5 }] }));
}

/** Bit flips, byte overwrites, truncations, insertions and length-octet tweaks. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant("length" as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xff) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case "flip":
        b[at] ^= 1 << m.bit;
        break;
      case "set":
      case "length":
        b[at] = m.value;
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "insert":
        b = new Uint8Array([...b.slice(0, at), ...m.bytes, ...b.slice(at)]);
        break;
    }
  }
  return b;
}

function onlyDecodeErrors(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof DecodeError) return true;
    throw err;
  }
}

const v = new Validator();
const time = Date.UTC(2011, 3, 15);

test("mutated certificates raise only DecodeError, decoded or validated", (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.constantFrom(...seeds.cert), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, ms) => {
      const m = mutate(seed, ms);
      onlyDecodeErrors(() => {
        const c = new Certificate(m);
        c.decodeAll();
        c.unknownCriticalExtensions();
        decoded++;
      });
      onlyDecodeErrors(() => void v.validate(m, { anchors: [anchor], intermediates: [goodCa], crls: seeds.crl.slice(0, 1), time }));
      onlyDecodeErrors(() => void v.validate(seeds.cert[0], { anchors: [anchor], intermediates: [m], crls: [seeds.crl[0]], time }));
      return true;
    }),
    { numRuns: 1500, seed: 1 },
  );
  t.true(decoded > 50, "some mutations still decode, so the deeper code is exercised");
});

test("mutated CRLs raise only DecodeError, decoded or used", (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.constantFrom(...seeds.crl), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, ms) => {
      const m = mutate(seed, ms);
      onlyDecodeErrors(() => {
        const c = new Crl(m);
        void c.issuer;
        void c.idp;
        void c.authorityKeyId;
        c.unknownCriticalExtension();
        for (const e of c.entries()) void e;
        c.lookup("01");
        decoded++;
      });
      onlyDecodeErrors(() => void v.validate(seeds.cert[0], { anchors: [anchor], intermediates: [goodCa], crls: [m, seeds.crl[2]], time }));
      return true;
    }),
    { numRuns: 1500, seed: 2 },
  );
  t.true(decoded > 50);
});

test("mutated OCSP responses raise only DecodeError, decoded or used", (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.constantFrom(...seeds.ocsp), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, ms) => {
      const m = mutate(seed, ms);
      onlyDecodeErrors(() => {
        const o = new OcspResponse(m);
        void o.nonce;
        for (const c of o.certs) c.decodeAll();
        decoded++;
      });
      onlyDecodeErrors(() => void v.validate(seeds.cert[0], { anchors: [anchor], intermediates: [goodCa], ocspResponses: [m], crls: [seeds.crl[2]], time }));
      return true;
    }),
    { numRuns: 1000, seed: 3 },
  );
  t.true(decoded > 20);
});

test("random bytes raise only DecodeError", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      onlyDecodeErrors(() => new Certificate(b).decodeAll());
      onlyDecodeErrors(() => new Crl(b).lookup("00"));
      onlyDecodeErrors(() => void new OcspResponse(b));
      return true;
    }),
    { numRuns: 2000, seed: 4 },
  );
  t.throws(() => new Certificate(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), { instanceOf: DecodeError });
});

const pemOf = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END ${label}-----\n`;

test("PEM input: well-formed blocks read back; fragments and noise raise only DecodeError", (t) => {
  // Round trip: any DER in any number of blocks, with text around them, comes back byte for byte.
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 4 }), fc.string({ maxLength: 20 }), (ders, noise) => {
      const text = "Bag Attributes\n" + ders.map((d) => pemOf("CERTIFICATE", d) + noise.replace(/-/g, "") + "\n").join("");
      const back = readPemOrDer(Buffer.from(text), "CERTIFICATE");
      return back.length === ders.length && back.every((b, i) => Buffer.compare(Buffer.from(b), Buffer.from(ders[i])) === 0);
    }),
    { numRuns: 300 },
  );
  // Noise: pieces of PEM syntax in any order.
  const piece = fc.oneof(
    fc.constantFrom("-----BEGIN ", "-----END ", "-----", "CERTIFICATE", "X509 CRL", "TRUSTED CERTIFICATE", "\n", " ", "=", "MIIB", "AAAA", "@"),
    fc.string({ maxLength: 8 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), fc.constantFrom(undefined, "CERTIFICATE", "X509 CRL"), (parts, label) => {
      const bytes = Buffer.from(parts.join(""), "latin1");
      try {
        for (const der of readPemOrDer(bytes, label)) if (!(der instanceof Uint8Array)) return false;
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }),
    { numRuns: 3000 },
  );
  // Hostile input: thousands of BEGIN lines without an END used to be rescanned once per BEGIN (quadratic).
  const hostile = Buffer.from("-----BEGIN CERTIFICATE-----\n".repeat(200_000));
  t.throws(() => readPemOrDer(hostile, "CERTIFICATE"), { instanceOf: DecodeError, message: /without its END/ });
  // A block of another kind is not a certificate; a truncated block is an error, not an empty result.
  t.throws(() => readPemOrDer(Buffer.from(pemOf("X509 CRL", Uint8Array.of(0x30, 0))), "CERTIFICATE"), { instanceOf: DecodeError });
  t.throws(() => readPemOrDer(Buffer.from(pemOf("CERTIFICATE", Uint8Array.of(0x30, 0)).slice(0, 30)), "CERTIFICATE"), { instanceOf: DecodeError });
});
