import test from "ava";
import fc from "fast-check";
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { gzipSync } from "node:zlib";
import { EventBus, VirtualClock, concatBytes, encodeTlv, fromHex, toHex, type AnyEvent } from "../../core/index.js";
import { DEFAULT_MANAGEMENT_KEY, PivCard } from "../card/index.js";
import { MemoryReader } from "../reader/index.js";
import { PivClient, PivError, type PivKeyAlg, type PivSlot } from "./piv-client.js";

async function setup(opts: Partial<Parameters<typeof PivCard.create>[0]> = {}) {
  const card = PivCard.create({ expires: new Date("2029-12-31T00:00:00Z"), serial: "00c0ffee", ...opts });
  const reader = new MemoryReader(card);
  await reader.connect();
  const client = new PivClient(reader);
  await client.select();
  return { card, reader, client };
}

const SLOTS: PivSlot[] = [0x9a, 0x9c, 0x9d, 0x9e];
const ALGS: PivKeyAlg[] = ["p256", "p384", "rsa2048"];

test("select returns the application property template", async (t) => {
  const { client } = await setup();
  const apt = await client.select();
  t.is(apt[0], 0x61);
  t.true(toHex(apt).includes("4f06000010000100"));
});

test("any message signed in any slot, with any algorithm, verifies with the key GENERATE returned", async (t) => {
  // one card per algorithm, every slot holding a key of it (4 RSA key generations in all)
  const keys = new Map<string, KeyObject>();
  const clients = new Map<PivKeyAlg, PivClient>();
  for (const alg of ALGS) {
    const { client } = await setup();
    await client.authenticate(DEFAULT_MANAGEMENT_KEY);
    for (const slot of SLOTS) keys.set(`${alg}/${slot}`, await client.generateKey(slot, alg));
    clients.set(alg, client);
  }
  let rsaRuns = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ALGS),
      fc.constantFrom(...SLOTS),
      fc.uint8Array({ maxLength: 2000 }),
      fc.constantFrom("sha256", "sha384", "sha512", "sha1"),
      async (alg, slot, message, hash) => {
        if (alg === "rsa2048") rsaRuns++;
        const client = clients.get(alg)!;
        const digest = createHash(hash).update(message).digest();
        if (slot !== 0x9e) await client.verifyPin("123456");
        const sig = await client.signDigest(slot, alg, digest);
        return verify(hash, message, keys.get(`${alg}/${slot}`)!, sig);
      },
    ),
    { numRuns: 150 },
  );
  t.true(rsaRuns > 0);
});

test("PIN management through the client: verify, retries, change, unblock", async (t) => {
  const { client } = await setup();
  t.is(await client.pinRetries(), 3);
  const err = await t.throwsAsync(client.verifyPin("000000"), { instanceOf: PivError });
  t.is(err!.sw, 0x63c2);
  t.is(err!.retriesLeft, 2);
  t.is(err!.code, "piv");
  t.is(await client.pinRetries(), 2);
  await client.verifyPin("123456");
  t.is(await client.pinRetries(), 3, "while verified, the count comes from GET METADATA");
  await client.changePin("123456", "7654321");
  await t.throwsAsync(client.verifyPin("123456"), { instanceOf: PivError });
  await client.verifyPin("7654321");
  await client.changePuk("12345678", "87654321");
  await t.throwsAsync(client.unblockPin("12345678", "111111"), { instanceOf: PivError, message: /2 tries left/ });
  for (let i = 0; i < 3; i++) await client.verifyPin("000000").catch(() => undefined);
  t.is(await client.pinRetries(), 0);
  const blocked = await t.throwsAsync(client.verifyPin("7654321"), { instanceOf: PivError });
  t.is(blocked!.sw, 0x6983);
  t.is(blocked!.retriesLeft, 0);
  await client.unblockPin("87654321", "222222");
  await client.verifyPin("222222");
  await t.throwsAsync(client.verifyPin("123456789"), { instanceOf: PivError, message: /at most 8/ });
});

test("management key: 3DES and AES, wrong key refused", async (t) => {
  const { client } = await setup();
  const wrong = await t.throwsAsync(client.authenticate(fromHex("00".repeat(24))), { instanceOf: PivError });
  t.is(wrong!.sw, 0x6982);
  await client.authenticate(DEFAULT_MANAGEMENT_KEY, "3des");
  for (const [alg, len] of [["aes128", 16], ["aes192", 24], ["aes256", 32]] as const) {
    const key = new Uint8Array(len).fill(0x42);
    const { client: c } = await setup({ managementAlg: alg, managementKey: key });
    await c.authenticate(key, alg);
    await t.throwsAsync(c.authenticate(key, "3des"), { instanceOf: PivError, message: /6A86/ });
  }
});

test("certificates: write needs the management key; large ones read back whole; absent is undefined", async (t) => {
  const { client, card } = await setup();
  t.is(await client.readCertificate(0x9a), undefined);
  const cert = new Uint8Array(2500).map((_, i) => (i * 31) & 0xff);
  const denied = await t.throwsAsync(client.writeCertificate(0x9a, cert), { instanceOf: PivError });
  t.is(denied!.sw, 0x6982);
  await client.authenticate(DEFAULT_MANAGEMENT_KEY);
  for (const slot of SLOTS) await client.writeCertificate(slot, cert.map((b) => b ^ slot));
  for (const slot of SLOTS) t.is(toHex((await client.readCertificate(slot))!), toHex(cert.map((b) => b ^ slot)));
  // a gzip-compressed certificate (CertInfo 01), as YubiKey tools may write
  await client.putData(0x5fc105, concatBytes(encodeTlv(0x70, gzipSync(cert)), encodeTlv(0x71, Uint8Array.of(1))));
  t.is(toHex((await client.readCertificate(0x9a))!), toHex(cert));
  await t.throwsAsync(client.readCertificate(0x9b), { instanceOf: PivError });
  t.truthy(card.state.objects.get(0x5fc10a));
});

test("getData/putData work on object contents; readChuid gives FASC-N, GUID and expiry", async (t) => {
  const { client } = await setup({ expires: new Date("2032-07-15T00:00:00Z") });
  const chuid = await client.readChuid();
  t.is(chuid.expires.toISOString(), "2032-07-15T00:00:00.000Z");
  t.is(chuid.guid.length, 16);
  t.is(chuid.fascn!.length, 25);
  const disc = await client.getData(0x7e);
  t.is(toHex(disc), "4f0ba0000003080000100001005f2f024000");
  await client.authenticate(DEFAULT_MANAGEMENT_KEY);
  await client.putData(0x5fff00, fromHex("8003810100"));
  t.is(toHex(await client.getData(0x5fff00)), "8003810100");
  const missing = await t.throwsAsync(client.getData(0x5fc106), { instanceOf: PivError });
  t.is(missing!.sw, 0x6a82);
});

test("9C signature needs a fresh VERIFY each time, through the client too", async (t) => {
  const { client } = await setup();
  await client.authenticate(DEFAULT_MANAGEMENT_KEY);
  const pub = await client.generateKey(0x9c, "p256");
  const digest = createHash("sha256").update("contract").digest();
  await client.verifyPin("123456");
  t.true(verify("sha256", Buffer.from("contract"), pub, await client.signDigest(0x9c, "p256", digest)));
  const err = await t.throwsAsync(client.signDigest(0x9c, "p256", digest), { instanceOf: PivError });
  t.is(err!.sw, 0x6982);
  t.is(createPublicKey(pub.export({ format: "pem", type: "spki" })).asymmetricKeyType, "ec");
});

test("exchanges go on the event bus with PIN and PUK masked", async (t) => {
  const card = PivCard.create({ expires: new Date("2029-12-31T00:00:00Z") });
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const reader = new MemoryReader(card, { name: "test reader", bus });
  await reader.connect();
  const client = new PivClient(reader);
  await client.select();
  await client.verifyPin("123456");
  await client.unblockPin("12345678", "654321").catch(() => undefined);
  const exchanges = events.filter((e) => e.type === "apdu.exchange");
  t.is(exchanges.length, 3);
  const json = JSON.stringify(events);
  t.false(json.includes("313233343536"), "PIN bytes never reach an event");
  t.false(json.includes("3132333435363738"), "PUK bytes never reach an event");
  const verifyEvent = exchanges[1].data as { command: string; sw: string; reader: string };
  t.is(verifyEvent.command, "0020008008FFFFFFFFFFFFFFFF");
  t.is(verifyEvent.sw, "9000");
  t.is(verifyEvent.reader, "test reader");
  t.deepEqual(exchanges[1].volatile, ["micros"]);
});
