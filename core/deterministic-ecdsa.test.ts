import test from "ava";
import fc from "fast-check";
import { p256 as nobleP256, p384 as nobleP384 } from "@noble/curves/nist.js";
import { createHmacDrbg } from "@noble/curves/utils.js";
import { createHash, createHmac, createPrivateKey, sign, verify } from "node:crypto";
import { bits2octets, deterministicEcdsaSign, isDeterministic, rfc6979Nonces } from "./deterministic-ecdsa.js";
import { bits2int, EC_CURVES } from "./ec-math.js";
import { seededEcKeyPair, seededRsaKeyPair } from "./keygen.js";
import { CryptoRandom, SeededRandom } from "./random.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const spki = (k: import("node:crypto").KeyObject) => hex(k.export({ format: "der", type: "spki" }));

test("RFC 6979 A.2.5 (P-256, SHA-256, message \"sample\"): the specified r and s", (t) => {
  const x = Buffer.from("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", "hex");
  const digest = createHash("sha256").update("sample").digest();
  const der = deterministicEcdsaSign("P-256", x, digest);
  // DER SEQUENCE { INTEGER r, INTEGER s }: both have their top bit set, so a 00 octet leads each
  t.is(
    hex(der).toUpperCase(),
    "3046" +
      "022100" + "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" +
      "022100" + "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
  );
  // and the public key of A.2.5 verifies it
  const key = createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: x.toString("base64url"),
      x: Buffer.from("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6", "hex").toString("base64url"),
      y: Buffer.from("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299", "hex").toString("base64url"),
    },
    format: "jwk",
  });
  t.true(verify("sha256", Buffer.from("sample"), key, der));
});

test("RFC 6979 A.2.6 (P-384, SHA-384, message \"sample\"): the specified r and s", (t) => {
  const x = Buffer.from("6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5", "hex");
  const digest = createHash("sha384").update("sample").digest();
  // DER SEQUENCE (102 octets) { INTEGER r, INTEGER s }, 49 octets each: a 00 octet leads both (top bit set)
  t.is(
    hex(deterministicEcdsaSign("P-384", x, digest)).toUpperCase(),
    "3066" +
      "023100" + "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46" +
      "023100" + "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8",
  );
});

test("RFC 6979 A.1.2 (163-bit q, SHA-256, \"sample\"): candidates at or above q are rejected and the retry step gives the specified k", (t) => {
  const q = 0x4000000000000000000020108a2e0cc0d99f8a5efn;
  const x = Buffer.from("009A4D6792295A7F730FC3F2B49CBC0F62E862272F", "hex"); // int2octets(x), rlen = 168 bits
  const h1 = bits2octets(createHash("sha256").update("sample").digest(), q);
  t.is(hex(h1).toUpperCase(), "01795EDF0D54DB760F156D0DAC04C0322B3A204224", "bits2octets: a 256-bit digest shifted to 163 bits, then reduced");
  // The RFC's first two candidates (04982D23..., 063863C3...) are >= q: only the K = HMAC(V || 00), V = HMAC(V) retry reaches this k
  const nonces = rfc6979Nonces("sha256", q, x, h1);
  t.is(nonces.next().value.toString(16).toUpperCase(), "23AF4074C90A02B3FE61D286D5C87F425E6BDD81B");
});

test("RFC 6979 nonces after r or s = 0: the n-th nonce is @noble/curves' HMAC-DRBG's n-th output (fast-check, 50 cases)", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 3 }), (x, h1, skipped) => {
      const q = EC_CURVES["P-256"].n;
      const nonces = rfc6979Nonces("sha256", q, x, h1);
      let ours = 0n;
      for (let i = 0; i <= skipped; i++) ours = nonces.next().value;
      // noble's generator, told that the first `skipped` nonces gave r or s = 0
      let seen = 0;
      const hmacSha256 = (key: Uint8Array, msg: Uint8Array) => new Uint8Array(createHmac("sha256", key).update(msg).digest());
      const theirs = createHmacDrbg<bigint>(32, 32, hmacSha256)(Buffer.concat([x, h1]), (tBytes) => {
        const k = bits2int(tBytes, 256);
        if (k < 1n || k >= q) return undefined;
        return seen++ < skipped ? undefined : k;
      });
      t.is(ours, theirs);
      return ours === theirs;
    }),
    { numRuns: 50 },
  );
});

test("deterministic ECDSA: same key and digest, same bytes; every signature verifies (fast-check, 40 cases)", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed, digest) => {
      const { privateKey, publicKey } = seededEcKeyPair("P-256", new SeededRandom(seed));
      const d = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
      const a = deterministicEcdsaSign("P-256", d, digest);
      const b = deterministicEcdsaSign("P-256", d, digest);
      t.deepEqual(a, b);
      // node verifies a signature over a message it hashes: check r,s against the digest with a prehashed verify
      return verifyPrehashed(publicKey, digest, a);
    }),
    { numRuns: 40 },
  );
});

/** node has no "verify this digest" for ECDSA: noble's verify (its own code path, not its signer) checks it. */
function verifyPrehashed(publicKey: import("node:crypto").KeyObject, digest: Uint8Array, der: Uint8Array): boolean {
  const jwk = publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x as string, "base64url"), Buffer.from(jwk.y as string, "base64url")]);
  return nobleP256.verify(der, digest, point, { prehash: false, lowS: false, format: "der" });
}

test("byte for byte @noble/curves' RFC 6979 signature (prehash off, no low-S) over random keys and digests of any length, P-256 and P-384 (fast-check, 200 cases)", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.boolean(), fc.uint8Array({ minLength: 0, maxLength: 80 }), (seed, p384, digest) => {
      const curve = p384 ? "P-384" : "P-256";
      const { privateKey } = seededEcKeyPair(curve, new SeededRandom(seed));
      const d = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
      const theirs = (p384 ? nobleP384 : nobleP256).sign(digest, d, { prehash: false, lowS: false, format: "der" });
      t.is(hex(deterministicEcdsaSign(curve, d, digest)), hex(theirs));
    }),
    { numRuns: 200 },
  );
});

test("a private scalar out of range is refused (RangeError), not signed with", (t) => {
  const digest = new Uint8Array(32);
  t.throws(() => deterministicEcdsaSign("P-256", new Uint8Array(32), digest), { instanceOf: RangeError });
  t.throws(() => deterministicEcdsaSign("P-256", new Uint8Array(32).fill(0xff), digest), { instanceOf: RangeError });
});

test("seeded EC keys: the same seed gives the same key, another seed another key; the scalar is in range", (t) => {
  for (const curve of ["P-256", "P-384"] as const) {
    const a = seededEcKeyPair(curve, new SeededRandom(42));
    const b = seededEcKeyPair(curve, new SeededRandom(42));
    const c = seededEcKeyPair(curve, new SeededRandom(43));
    t.is(spki(a.publicKey), spki(b.publicKey));
    t.not(spki(a.publicKey), spki(c.publicKey));
    t.is(a.privateKey.asymmetricKeyDetails?.namedCurve, curve === "P-256" ? "prime256v1" : "secp384r1");
  }
});

test("seeded EC keys: a draw at or above the group order is rejected, not reduced", (t) => {
  // A stream whose first draw is all FF (above n), then all 01: the key is the one of scalar 0x0101..01.
  let calls = 0;
  const stream = { bytes: (n: number) => new Uint8Array(n).fill(calls++ === 0 ? 0xff : 0x01) };
  const k = seededEcKeyPair("P-256", stream);
  t.is(calls, 2);
  t.is(Buffer.from(k.privateKey.export({ format: "jwk" }).d as string, "base64url").toString("hex"), "01".repeat(32));
});

test("seeded RSA keys: the same seed gives the same 2048-bit key, and it signs", (t) => {
  const a = seededRsaKeyPair(new SeededRandom(5));
  const b = seededRsaKeyPair(new SeededRandom(5));
  t.is(spki(a.publicKey), spki(b.publicKey));
  t.is(a.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.is(a.publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
  const sig = createHash("sha256").update("x").digest();
  t.true(verify("sha256", sig, a.publicKey, sign("sha256", sig, a.privateKey)));
  const c = seededRsaKeyPair(new SeededRandom(6), 1024);
  t.is(c.publicKey.asymmetricKeyDetails?.modulusLength, 1024);
  t.not(spki(a.publicKey), spki(c.publicKey));
});

test("isDeterministic: a SeededRandom is, the CSPRNG is not, and a Random's own flag wins", (t) => {
  t.true(isDeterministic(new SeededRandom(1)));
  t.false(isDeterministic(new CryptoRandom()));
  t.false(isDeterministic(undefined));
  t.true(isDeterministic({ bytes: (n: number) => new Uint8Array(n), deterministic: true } as never));
  const optedOut = Object.assign(new SeededRandom(1), { deterministic: false });
  t.false(isDeterministic(optedOut));
  t.is(new SeededRandom(1).fork("card").deterministic, true, "a fork is seeded too");
});
