import test from "ava";
import { createHash, createPublicKey, verify } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTlvs, encodeTlv, findTlv, fromHex, readTlv } from "../../core/index.js";
import { loadCard, saveCard } from "./index.js";
import { apdu, dyn, pinBlock, tx } from "./testing.js";

// Written by the card before it was split into OS and applets (format 1): a
// P-256 key in 9A, a certificate object, PIN 24681357 with one failed try.
const FIXTURE = new URL("./fixtures/card-v1.json", import.meta.url).pathname;

test("a card file written before the card OS/applet split loads, answers and saves back byte for byte", (t) => {
  const card = loadCard(FIXTURE);
  card.powerOn();
  t.is(card.serial, "0102c0ffee");
  t.is(tx(card, apdu(0, 0x20, 0, 0x80)).sw, "63C2");
  t.is(tx(card, fromHex("00cb3fff055c035fc10500")).data, "53087003300100710100");
  t.is(tx(card, fromHex("00f8000000")).data, "02C0FFEE");
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("24681357"))).sw, "9000");
  const meta = decodeTlvs(tx(card, fromHex("00f7009a00")).bytes);
  const point = findTlv(decodeTlvs(findTlv(meta, 0x04)!.value), 0x86)!.value;
  const pub = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: Buffer.from(point.subarray(1, 33)).toString("base64url"), y: Buffer.from(point.subarray(33)).toString("base64url") },
    format: "jwk",
  });
  const digest = createHash("sha256").update("old card").digest();
  const sig = dyn(tx(card, apdu(0, 0x87, 0x11, 0x9a, encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, digest)]), 0)), 0x82);
  t.true(verify("sha256", Buffer.from("old card"), pub, sig), "the stored private key signs");
  t.is(readTlv(tx(card, fromHex("00cb3fff035c017e00")).bytes).tag, 0x7e);

  const again = join(mkdtempSync(join(tmpdir(), "cardloop-card-")), "card.json");
  saveCard(loadCard(FIXTURE), again);
  t.is(readFileSync(again, "utf8"), readFileSync(FIXTURE, "utf8"), "same file format, same bytes");
});
