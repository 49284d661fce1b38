import test from "ava";
import { createHash, createPublicKey, verify } from "node:crypto";
import { CryptoRandom, SeededRandom, decodeTlvs, encodeTlv, findTlv, readTlv, toHex, type Random } from "../../core/index.js";
import { ALG, CardKey } from "./crypto.js";
import { apdu, dyn, mgmAuth, newCard, pinBlock, tx, type Reply } from "./testing.js";

/**
 * A seeded card (its Random a SeededRandom): keys from the stream, ECDSA by
 * RFC 6979. Two cards with one seed answer GENERATE and GENERAL AUTHENTICATE
 * with the same bytes; another seed, other bytes; an unseeded card never repeats.
 */

const generate = (slot: number, alg: number) => apdu(0, 0x47, 0, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(alg))), 0);
const sign = (alg: number, slot: number, digest: Uint8Array) =>
  apdu(0, 0x87, alg, slot, encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, digest)]), 0);

/** A fresh card with `random`: management key, GENERATE P-256 and P-384 in 9A and 9E, then a signature with each. */
function session(random: Random): { keys: string[]; signatures: string[]; publicKeys: Uint8Array[] } {
  const card = newCard({ random });
  if (mgmAuth(card).sw !== "9000") throw new Error("management key refused");
  const digest256 = createHash("sha256").update("cardloop").digest();
  const digest384 = createHash("sha384").update("cardloop").digest();
  const a: Reply = tx(card, generate(0x9a, ALG.P256));
  const e: Reply = tx(card, generate(0x9e, ALG.P384));
  tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("123456")));
  const s1 = tx(card, sign(ALG.P256, 0x9a, digest256));
  const s2 = tx(card, sign(ALG.P384, 0x9e, digest384));
  const s3 = tx(card, sign(ALG.P256, 0x9a, digest256));
  for (const r of [a, e, s1, s2, s3]) if (r.sw !== "9000") throw new Error(`card answered ${r.sw}`);
  const point = (r: Reply) => findTlv(decodeTlvs(readTlv(r.bytes).value), 0x86)!.value;
  return { keys: [a.data, e.data], signatures: [toHex(dyn(s1, 0x82)), toHex(dyn(s2, 0x82)), toHex(dyn(s3, 0x82))], publicKeys: [point(a), point(e)] };
}

test("a seeded card: the same seed gives the same keys and signatures; another seed other ones; each verifies", (t) => {
  const one = session(new SeededRandom(2026));
  const again = session(new SeededRandom(2026));
  const other = session(new SeededRandom(2027));
  t.deepEqual(again.keys, one.keys);
  t.deepEqual(again.signatures, one.signatures);
  t.is(one.signatures[0], one.signatures[2], "RFC 6979: same key, same digest, same signature");
  t.notDeepEqual(other.keys[0], one.keys[0]);
  t.notDeepEqual(other.keys[1], one.keys[1]);
  t.not(other.signatures[0], one.signatures[0]);
  // the signatures verify with the keys GENERATE returned
  const pub = (point: Uint8Array, crv: string, size: number) =>
    createPublicKey({ key: { kty: "EC", crv, x: Buffer.from(point.subarray(1, 1 + size)).toString("base64url"), y: Buffer.from(point.subarray(1 + size)).toString("base64url") }, format: "jwk" });
  t.true(verify("sha256", Buffer.from("cardloop"), pub(one.publicKeys[0], "P-256", 32), Buffer.from(one.signatures[0], "hex")));
  t.true(verify("sha384", Buffer.from("cardloop"), pub(one.publicKeys[1], "P-384", 48), Buffer.from(one.signatures[1], "hex")));
});

test("an unseeded card keeps native keys and random k: two signatures over one digest differ", (t) => {
  const one = session(new CryptoRandom());
  const two = session(new CryptoRandom());
  t.not(one.keys[0], two.keys[0]);
  t.not(one.signatures[0], one.signatures[2], "a fresh k each time");
});

test("seeded RSA-2048 on the card: the same seed, the same modulus; its raw signature repeats", (t) => {
  const a = CardKey.generate(ALG.RSA2048, new SeededRandom(9));
  const b = CardKey.generate(ALG.RSA2048, new SeededRandom(9));
  const c = CardKey.generate(ALG.RSA2048, new SeededRandom(10));
  t.deepEqual(a.publicParts().modulus, b.publicParts().modulus);
  t.notDeepEqual(a.publicParts().modulus, c.publicParts().modulus);
  t.is(a.publicParts().modulus!.length, 256);
  const block = new Uint8Array(256).fill(0x11);
  block[0] = 0;
  t.deepEqual(a.sign(block, true), b.sign(block, true));
});
