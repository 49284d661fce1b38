import test from "ava";
import fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import { createHash, createPublicKey, verify } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CardloopError, SeededRandom, bytesEqual, concatBytes, decodeTlvs, encodeTlv, findTlv, fromHex, readTlv } from "../../core/index.js";
import {
  CardFile,
  CardFileBusyError,
  PivCard,
  SW_MEMORY_FAILURE,
  lockCardFile,
  loadCard,
  newPivState,
  saveCard,
  type CardStore,
  type PivCardJson,
  type PivCardOptions,
  type PivCardState,
} from "./index.js";
import { stateToJson } from "./state-json.js";
import { MGM, apdu, dyn, mgmAuth, pinBlock, tx } from "./testing.js";

// Written by the card before it was split into OS and applets (format 1): a
// P-256 key in 9A, a certificate object, PIN 24681357 with one failed try.
const FIXTURE = join(import.meta.dirname, "fixtures", "card-v1.json");

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

// --- state as a card keeps it (issue 11, defect 8) ------------------------------------------------

/** A store that keeps what it was given, as the file would (and can be made to fail). */
class RecordingStore implements CardStore {
  saves: PivCardJson[] = [];
  failing = false;
  save(state: PivCardState): void {
    if (this.failing) throw new Error("ENOSPC: no space left on device");
    this.saves.push(stateToJson(state));
  }
  get last(): PivCardJson | undefined {
    return this.saves[this.saves.length - 1];
  }
}

function storedCard(store: CardStore, opts: Partial<PivCardOptions> = {}): PivCard {
  const state = newPivState({ expires: new Date("2030-06-30T00:00:00Z"), serial: "00c0ffee", ...opts }, new SeededRandom(1));
  const card = new PivCard(state, new SeededRandom(2), store);
  card.powerOn();
  return card;
}

const KEY_A = fromHex("0a0b0c0d0e0f10111213141516171819 1a1b1c1d1e1f2021".replace(/ /g, ""));

/** What a host may send, with what it needs to know (current PIN, PUK, management key) kept in a model. */
interface Model {
  pin: string;
  puk: string;
  key: Uint8Array;
}
type Step = (card: PivCard, m: Model) => void;
const setKey = (card: PivCard, m: Model, key: Uint8Array) => {
  if (mgmAuth(card, m.key).sw !== "9000") return;
  if (tx(card, apdu(0, 0xff, 0xff, 0xff, concatBytes(Uint8Array.of(0x03, 0x9b, 24), key))).sw === "9000") m.key = key;
};
const STEPS: Record<string, Step> = {
  "VERIFY right": (c, m) => void tx(c, apdu(0, 0x20, 0, 0x80, pinBlock(m.pin))),
  "VERIFY wrong": (c) => void tx(c, apdu(0, 0x20, 0, 0x80, pinBlock("000000"))),
  "VERIFY empty": (c) => void tx(c, apdu(0, 0x20, 0, 0x80)),
  "CHANGE PIN right": (c, m) => {
    if (tx(c, apdu(0, 0x24, 0, 0x80, concatBytes(pinBlock(m.pin), pinBlock("654321")))).sw === "9000") m.pin = "654321";
  },
  "CHANGE PIN wrong": (c) => void tx(c, apdu(0, 0x24, 0, 0x80, concatBytes(pinBlock("000000"), pinBlock("111111")))),
  "CHANGE PUK right": (c, m) => {
    if (tx(c, apdu(0, 0x24, 0, 0x81, concatBytes(pinBlock(m.puk), pinBlock("87654321")))).sw === "9000") m.puk = "87654321";
  },
  "CHANGE PUK wrong": (c) => void tx(c, apdu(0, 0x24, 0, 0x81, concatBytes(pinBlock("00000000"), pinBlock("11111111")))),
  "RESET RETRY COUNTER right": (c, m) => {
    if (tx(c, apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock(m.puk), pinBlock("123456")))).sw === "9000") m.pin = "123456";
  },
  "RESET RETRY COUNTER wrong": (c) => void tx(c, apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock("00000000"), pinBlock("123456")))),
  "PUT DATA": (c, m) => {
    mgmAuth(c, m.key);
    tx(c, apdu(0, 0xdb, 0x3f, 0xff, concatBytes(encodeTlv(0x5c, fromHex("5fc105")), encodeTlv(0x53, encodeTlv(0x70, fromHex("3003"))))));
  },
  "PUT DATA delete": (c, m) => {
    mgmAuth(c, m.key);
    tx(c, apdu(0, 0xdb, 0x3f, 0xff, concatBytes(encodeTlv(0x5c, fromHex("5fc105")), encodeTlv(0x53, new Uint8Array(0)))));
  },
  GENERATE: (c, m) => {
    mgmAuth(c, m.key);
    tx(c, apdu(0, 0x47, 0, 0x9a, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(0x11))), 0));
  },
  "SET MANAGEMENT KEY": (c, m) => setKey(c, m, bytesEqual(m.key, KEY_A) ? MGM : KEY_A),
  "YubiKey RESET": (c, m) => {
    if (tx(c, apdu(0, 0xfb, 0, 0)).sw === "9000") Object.assign(m, { pin: "123456", puk: "12345678", key: MGM });
  },
  "GET DATA": (c) => void tx(c, fromHex("00cb3fff055c035fc10200")),
  "power cycle": (c) => void c.powerOn(),
};

test("the store holds what the card reported after every answer, whatever changed it (fast-check over PIV and YubiKey instructions)", (t) => {
  const names = Object.keys(STEPS);
  let changes = 0;
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 40 }), (steps) => {
        const store = new RecordingStore();
        const card = storedCard(store);
        const model: Model = { pin: "123456", puk: "12345678", key: MGM };
        const start = JSON.stringify(card.toJSON());
        for (const name of steps) {
          STEPS[name](card, model);
          // nothing written yet is the same as the file's first content
          const stored = JSON.stringify(store.last ?? JSON.parse(start));
          if (stored !== JSON.stringify(card.toJSON())) throw new Error(`after ${name} the store does not hold the card's memory`);
        }
        changes += store.saves.length;
      }),
      { numRuns: 60 },
    ),
  );
  t.true(changes > 100, `the runs changed the card (${changes} saves)`);
});

test("a PIN or PUK try is stored before the comparison, and a read writes nothing", (t) => {
  const cases: Array<[string, Uint8Array, number[], "pinLeft" | "pukLeft"]> = [
    ["wrong PIN", apdu(0, 0x20, 0, 0x80, pinBlock("000000")), [2], "pinLeft"],
    ["right PIN", apdu(0, 0x20, 0, 0x80, pinBlock("123456")), [2, 3], "pinLeft"],
    ["CHANGE PIN, wrong old PIN", apdu(0, 0x24, 0, 0x80, concatBytes(pinBlock("000000"), pinBlock("111111"))), [2], "pinLeft"],
    ["CHANGE PUK, right old PUK", apdu(0, 0x24, 0, 0x81, concatBytes(pinBlock("12345678"), pinBlock("11111111"))), [2, 3], "pukLeft"],
    ["RESET RETRY COUNTER, wrong PUK", apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock("00000000"), pinBlock("111111"))), [2], "pukLeft"],
    ["RESET RETRY COUNTER, right PUK", apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock("12345678"), pinBlock("111111"))), [2, 3], "pukLeft"],
  ];
  for (const [name, command, counters, field] of cases) {
    const store = new RecordingStore();
    const card = storedCard(store);
    tx(card, apdu(0, 0xa4, 4, 0, fromHex("a000000308")));
    tx(card, command);
    t.deepEqual(
      store.saves.map((s) => s[field]),
      counters,
      `${name}: the first write counts the try (tries - 1), before the card knows whether it was right`,
    );
  }
  const store = new RecordingStore();
  const card = storedCard(store);
  for (const read of ["00cb3fff055c035fc10200", "00f8000000", "00fd000000", "00f7008000", "00200080"]) tx(card, read);
  t.is(store.saves.length, 0, "GET DATA, GET SERIAL, GET VERSION, GET METADATA and a PIN status query write nothing");
});

test("a write that fails answers 6581 whether the PIN was right or wrong, grants nothing, and leaves the card mute", (t) => {
  const answers = ["123456", "000000"].map((pin) => {
    const store = new RecordingStore();
    const card = storedCard(store);
    store.failing = true;
    const sw = tx(card, apdu(0, 0x20, 0, 0x80, pinBlock(pin))).sw;
    store.failing = false;
    // mute: memory and store may disagree now; only a card loaded again from its store answers
    const after = ["00cb3fff055c035fc10200", "00200080", "00f8000000"].map((c) => tx(card, c).sw);
    card.powerOn();
    return { sw, after, afterReset: tx(card, "00fd000000").sw, saves: store.saves.length };
  });
  t.deepEqual(answers[0], answers[1], "a failed write tells nothing about the PIN");
  t.is(answers[0].sw, "6581");
  t.deepEqual(answers[0].after, ["6581", "6581", "6581"]);
  t.is(answers[0].afterReset, "6581");
  t.is(answers[0].saves, 0);
  t.is(SW_MEMORY_FAILURE, 0x6581);
});

function tmpCard(pinRetries = 3): string {
  const path = join(mkdtempSync(join(tmpdir(), "cardloop-card-")), "card.json");
  saveCard(PivCard.create({ expires: new Date("2030-06-30T00:00:00Z"), pinRetries }), path);
  return path;
}

test("CardFile: every change the card answers is in the file (mode 0600, no temporary file left); the file is locked while open", (t) => {
  const path = tmpCard();
  const file = CardFile.open(path);
  t.teardown(() => file.close());
  file.card.powerOn();
  t.is(tx(file.card, apdu(0, 0x20, 0, 0x80, pinBlock("000000"))).sw, "63C2");
  t.is(JSON.parse(readFileSync(path, "utf8")).pinLeft, 2, "on disk before the answer was read");
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dirname(path)).sort(), ["card.json", "card.json.lock", "card.json.lock.pid"]);
  t.is(readFileSync(`${path}.lock.pid`, "utf8"), `${process.pid}\n`, "the holder's pid, written beside the lock");

  const err = t.throws(() => CardFile.open(path), { instanceOf: CardFileBusyError });
  t.is(err?.message, `card file ${path} is in use by pid ${process.pid} (this process)`);
  t.is(err?.holderPid, process.pid);
  t.throws(() => lockCardFile(path), { instanceOf: CardFileBusyError }, "card new --force takes the same lock");
  file.close();
  t.deepEqual(readdirSync(dirname(path)).sort(), ["card.json", "card.json.lock"], "released: the pid file goes, the (empty, free) lock file stays");
  const again = CardFile.open(path);
  t.is(again.card.state.pinLeft, 2);
  again.close();
});

test("CardFile.tearing: every change reaches the file; a write the file cannot take is told to onSaveError (naming the file, not its content) and answers 6581", (t) => {
  const path = tmpCard();
  const file = CardFile.open(path);
  t.teardown(() => file.close());
  const errors: unknown[] = [];
  const card = file.tearing("atomic", { onSaveError: (err) => errors.push(err) });
  card.powerOn();
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("000000"))).sw, "63C2");
  t.is(JSON.parse(readFileSync(path, "utf8")).pinLeft, 2, "on disk before the answer was read");
  t.deepEqual(errors, []);
  // a directory where the file was: the rename of the written copy over it fails
  rmSync(path);
  mkdirSync(path);
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("000000"))).sw, "6581");
  t.is(errors.length, 1);
  const err = errors[0] as NodeJS.ErrnoException;
  t.is(err.code, "EISDIR");
  t.true(err.message.includes(path), err.message);
  t.false(err.message.includes("123456"), "no PIN in the error");
  t.deepEqual(readdirSync(dirname(path)).sort(), ["card.json", "card.json.lock", "card.json.lock.pid"], "no temporary file left");
});

/** A process in its own group holding the card file (CardFile.open), killed with its group at the end of the test. */
async function holdInChild(t: import("ava").ExecutionContext, path: string): Promise<{ pid: number; kill9(): Promise<unknown> }> {
  const index = new URL("./index.ts", import.meta.url).href;
  const code = `import { CardFile } from ${JSON.stringify(index)}; CardFile.open(process.argv[1]); process.stdout.write("held\\n"); process.stdin.resume();`;
  const child = spawn(process.execPath, ["--import=tsx", "--input-type=module", "-e", code, path], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  };
  t.teardown(kill);
  const exited = new Promise((resolve) => child.once("close", resolve));
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (c: string) => c.includes("held") && resolve());
    child.once("close", () => reject(new Error(`the holder ended: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    kill9: () => {
      kill();
      return exited;
    },
  };
}

test("only a held lock counts: a pid file left behind (a dead pid, a live process that holds nothing, garbage) is no lock; another process's lock is refused and gone with it; a second close frees nothing", async (t) => {
  const path = tmpCard();
  const pidFile = `${path}.lock.pid`;
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  for (const [name, content] of [
    ["dead pid", `${dead}\n`],
    ["a live process (our parent) that does not hold the lock", `${process.ppid}\n`],
    ["garbage", "not a pid"],
  ]) {
    writeFileSync(pidFile, content);
    const file = CardFile.open(path);
    t.is(readFileSync(pidFile, "utf8"), `${process.pid}\n`, `${name}: opened, the pid file names the holder`);
    file.close();
    t.false(existsSync(pidFile), `${name}: released`);
  }
  // a live process that holds it: refused, naming it, and the refusal touches nothing
  const holder = await holdInChild(t, path);
  const err = t.throws(() => CardFile.open(path), { instanceOf: CardFileBusyError });
  t.is(err?.holderPid, holder.pid);
  t.is(err?.message, `card file ${path} is in use by pid ${holder.pid}`);
  t.is(readFileSync(pidFile, "utf8"), `${holder.pid}\n`);
  await holder.kill9(); // the kernel drops its lock
  CardFile.open(path).close();
  // a release frees only its own lock: a session closed twice does not free its successor's
  const first = CardFile.open(path);
  first.close();
  const successor = CardFile.open(path);
  first.close();
  t.throws(() => CardFile.open(path), { instanceOf: CardFileBusyError }, "the successor still holds it");
  successor.close();
});

test("a card file that cannot be read or locked: one-line CardloopError, and no lock held behind", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-card-"));
  t.throws(() => CardFile.open(join(dir, "missing.json")), { instanceOf: CardloopError, message: /cannot read card file/ });
  t.throws(() => CardFile.open(join(dir, "no-such-dir", "card.json")), { instanceOf: CardloopError, message: /cannot read card file .*no such file/ });
  t.deepEqual(readdirSync(dir), [], "no card, no lock file left beside its name");
  // the lock alone (card new, before it writes the file): a directory that is not there is said
  t.throws(() => lockCardFile(join(dir, "no-such-dir", "card.json")), { instanceOf: CardloopError, message: /cannot lock card file .*its directory does not exist/ });
  lockCardFile(join(dir, "missing.json")).release();
  t.deepEqual(readdirSync(dir), ["missing.json.lock"], "released: the lock file stays (empty), no pid file: nothing holds it");
  // a lock file that is no SQLite database (an older cardloop wrote its pid into it): said, not overwritten
  const old = join(dir, "old.json");
  writeFileSync(`${old}.lock`, "4242\n-\n00\n");
  t.throws(() => lockCardFile(old), { instanceOf: CardloopError, message: /cannot lock card file .*old\.json\.lock is not a lock file/ });
  t.is(readFileSync(`${old}.lock`, "utf8"), "4242\n-\n00\n");
});
