import test from "ava";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { tempDir } from "../../harness/processes.js";
import { openCodeKey } from "./code-key.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { CaStore } from "./store.js";
import { makeCsr } from "./testing.js";

/**
 * The code key lives in `<dataDir>/code.key`, never in ca.db (review R1 P1):
 * a copy of the database alone checks no code. A data directory whose key
 * file is missing or malformed refuses to open, and says so.
 */
const holder = { id: "K-1", name: "Kim Key", email: "kim@example.org" };

async function openAt(dataDir: string) {
  return EmbeddedCa.open({ dataDir, clock: new VirtualClock("2026-03-01T10:00:00Z"), random: new SeededRandom(3), kdfLog2N: 4, crlScheduleMs: 0 });
}

test("the code key is a 0600 file beside ca.db, not in it; codes issued before a restart still revoke", async (t) => {
  const dataDir = join(tempDir(t, "code-key"), "ca");
  let ca = await openAt(dataDir);
  const c = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "authentication", holder, raToken: ca.raToken });
  await ca.close();
  const file = join(dataDir, "code.key");
  t.is(statSync(file).mode & 0o777, 0o600);
  const hex = readFileSync(file, "utf8").trim();
  t.regex(hex, /^[0-9a-f]{64}$/);
  for (const name of ["ca.db", "ca.db-wal"]) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dataDir, name));
    } catch {
      continue;
    }
    t.is(bytes.indexOf(hex), -1, `${name} holds no hex copy of the key`);
    t.is(bytes.indexOf(Buffer.from(hex, "hex")), -1, `${name} holds no raw copy of the key`);
  }
  ca = await openAt(dataDir);
  t.teardown(() => ca.close());
  const r = await ca.revoke({ serial: c.serial, reason: "keyCompromise", role: "holder", code: c.cancellationCodes!.holder, email: holder.email, name: holder.name }, { source: "ip:10.0.0.1" });
  t.is(r.status, "revoked");
});

test("a missing or malformed key file on a data directory that made one refuses to open, and is never replaced", async (t) => {
  const dataDir = join(tempDir(t, "code-key"), "ca");
  const ca = await openAt(dataDir);
  await ca.close();
  const file = join(dataDir, "code.key");
  writeFileSync(file, "not a key\n");
  await t.throwsAsync(openAt(dataDir), { message: /code\.key is not a code key/ });
  t.is(readFileSync(file, "utf8"), "not a key\n", "left as it was");
  writeFileSync(file, "ab".repeat(32) + "\n"); // well formed, but another key
  await t.throwsAsync(openAt(dataDir), { message: /not the key this CA's codes were hashed with/ });
  rmSync(file);
  await t.throwsAsync(openAt(dataDir), { message: /code\.key is missing/ });
  t.throws(() => statSync(file), undefined, "not made anew");
});

test("a key an earlier build kept in the meta table moves out to the file; an in-memory CA keeps its key in memory", (t) => {
  const dir = tempDir(t, "code-key");
  const store = new CaStore(join(dir, "ca.db"));
  t.teardown(() => store.close());
  const legacy = "cd".repeat(32);
  store.setMeta("code_hash_key", legacy);
  const key = openCodeKey(store, new SeededRandom(1), dir);
  t.is(key.toString("hex"), legacy, "the same key: its hashes still verify");
  t.is(readFileSync(join(dir, "code.key"), "utf8").trim(), legacy);
  t.is(store.meta("code_hash_key"), undefined, "no longer in the database");
  t.deepEqual(openCodeKey(store, new SeededRandom(2), dir), key, "read back from the file");
  const mem = new CaStore(":memory:");
  t.teardown(() => mem.close());
  t.is(openCodeKey(mem, new SeededRandom(1), undefined).length, 32);
  t.is(mem.meta("code_key_sha256"), undefined, "nothing about it stored");
});
