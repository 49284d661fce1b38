import test from "ava";
import fc from "fast-check";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../core/index.js";
import { defaultControl, parseLoadOptions, parseReasons, parseShard, publicPlan, readSerialsFile, shardOf, shareSize, writeSerialsFile, type RawLoadOptions } from "./plan.js";
import type { LoadTarget } from "./types.js";

const usageMessage = (t: import("ava").ExecutionContext, fn: () => unknown) => t.throws(fn, { instanceOf: UsageError })?.message ?? "";

test("defaults: closed loop of 64, single requests by the holder, cessationOfOperation, sample 100, 30s and 60s", (t) => {
  const p = parseLoadOptions({ ca: "embedded", prepare: "1000" });
  t.deepEqual(p.source, { kind: "prepare", total: 1000 });
  t.deepEqual(p.loop, { kind: "closed", concurrency: 64 });
  t.is(p.batch, 1);
  t.is(p.role, "holder");
  t.false(p.roleGiven);
  t.deepEqual(p.reasons, [{ reason: "cessationOfOperation", weight: 1 }]);
  t.is(p.sample, 100);
  t.is(p.timeoutMs, 30_000);
  t.is(p.propagationTimeoutMs, 60_000);
  t.is(p.count, undefined);
  t.is(p.control, undefined);
  t.deepEqual(p.gates, {});
});

test("batches are the operator's by default, and --role holder with batches is refused", (t) => {
  t.is(parseLoadOptions({ ca: "embedded", prepare: "10", batch: "50" }).role, "operator");
  t.regex(usageMessage(t, () => parseLoadOptions({ ca: "embedded", prepare: "10", batch: "50", role: "holder" })), /--batch above 1 is the operator's/);
});

test("every option is read: open loop, duration, shard, gates", (t) => {
  const p = parseLoadOptions({
    ca: "http://127.0.0.1:1",
    serials: "s.txt",
    issuer: "ca.pem",
    rate: "5000/s",
    duration: "2m",
    shard: "2/4",
    control: "7",
    sample: "10",
    timeout: "500ms",
    propagationTimeout: "5s",
    minRate: "100",
    maxP99: "50ms",
    maxPropagation: "ocsp:p99=2s",
    reasons: "keyCompromise=1,cessationOfOperation=3",
    role: "operator",
  });
  t.deepEqual(p.source, { kind: "file", path: "s.txt", issuerPath: "ca.pem" });
  t.deepEqual(p.loop, { kind: "open", ratePerSecond: 5000 });
  t.is(p.durationMs, 120_000);
  t.deepEqual(p.shard, { index: 2, of: 4 });
  t.is(p.control, 7);
  t.is(p.timeoutMs, 500);
  t.is(p.gates.minRate, 100);
  t.is(p.gates.maxP99Ms, 50);
  t.deepEqual(p.gates.maxPropagation?.channels, ["ocsp"]);
  t.deepEqual(p.reasons, [
    { reason: "keyCompromise", weight: 0.25 },
    { reason: "cessationOfOperation", weight: 0.75 },
  ]);
  // The plan as the run log shows it: no path, no credential.
  const shown = JSON.stringify(publicPlan(p));
  t.false(shown.includes("s.txt"));
  t.false(shown.includes("ca.pem"));
  t.regex(shown, /"shard":"2\/4"/);
});

test("conflicting or missing options: one line naming them", (t) => {
  const cases: Array<[RawLoadOptions, RegExp]> = [
    [{ prepare: "1" }, /--ca is required/],
    [{ ca: "embedded" }, /either --prepare N or --serials FILE/],
    [{ ca: "embedded", prepare: "1", serials: "f" }, /either --prepare N or --serials FILE/],
    [{ ca: "embedded", prepare: "1", count: "1", duration: "1s" }, /--count or --duration/],
    [{ ca: "embedded", prepare: "1", rate: "1", concurrency: "1" }, /--rate .* or --concurrency/],
    [{ ca: "embedded", prepare: "1", issuer: "x" }, /--issuer goes with --serials/],
    [{ ca: "embedded", serials: "f", saveSerials: "x" }, /--save-serials goes with --prepare/],
    [{ ca: "embedded", prepare: "1e3" }, /--prepare must be a whole number/],
    [{ ca: "embedded", prepare: "0" }, /--prepare must be a whole number 1\.\./],
    [{ ca: "embedded", prepare: "1", concurrency: "0" }, /--concurrency/],
    [{ ca: "embedded", prepare: "1", rate: "0" }, /--rate must be a rate above 0/],
    [{ ca: "embedded", prepare: "1", timeout: "soon" }, /--timeout must be a duration/],
    [{ ca: "embedded", prepare: "1", maxP99: "0ms" }, /--max-p99 must be above 0/],
    [{ ca: "embedded", prepare: "1", role: "admin" }, /--role must be holder or operator/],
    [{ ca: "embedded", prepare: "1", shard: "5/4" }, /--shard 5\/4: I must be 1\.\.N/],
    [{ ca: "embedded", prepare: "1", maxPropagation: "whenever" }, /max-propagation/],
  ];
  for (const [raw, re] of cases) t.regex(usageMessage(t, () => parseLoadOptions(raw)), re, JSON.stringify(raw));
});

test("--count 0 is allowed: prepare (and save) only", (t) => {
  t.is(parseLoadOptions({ ca: "embedded", prepare: "10", count: "0" }).count, 0);
});

test("reasons: RFC 5280 names with positive weights, normalised; holds and unknown names refused", (t) => {
  t.deepEqual(parseReasons("keyCompromise=0.1,cessationOfOperation=0.9"), [
    { reason: "keyCompromise", weight: 0.1 },
    { reason: "cessationOfOperation", weight: 0.9 },
  ]);
  t.regex(usageMessage(t, () => parseReasons("certificateHold=1")), /certificateHold is not a revocation/);
  t.regex(usageMessage(t, () => parseReasons("removeFromCRL=1")), /removeFromCRL/);
  t.regex(usageMessage(t, () => parseReasons("lostIt=1")), /unknown reason/);
  t.regex(usageMessage(t, () => parseReasons("keyCompromise=0")), /above 0/);
  t.regex(usageMessage(t, () => parseReasons("keyCompromise=1,keyCompromise=2")), /given twice/);
  t.regex(usageMessage(t, () => parseReasons("")), /empty/);
  t.regex(usageMessage(t, () => parseReasons("keyCompromise")), /name=weight/);
});

test("shards neither overlap nor leave a gap, and shareSize says each share's size", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 12 }), (n, of) => {
      const items = Array.from({ length: n }, (_, i) => i);
      const seen = new Set<number>();
      for (let index = 1; index <= of; index++) {
        const share = shardOf(items, { index, of });
        if (share.length !== shareSize(n, { index, of })) return false;
        for (const x of share) {
          if (seen.has(x)) return false;
          seen.add(x);
        }
      }
      return seen.size === n;
    }),
  );
  t.deepEqual(shardOf([1, 2, 3, 4, 5], parseShard("2/2")), [2, 4]);
  t.deepEqual(shardOf([1, 2, 3], undefined), [1, 2, 3]);
});

test("the default control set: a tenth, at most 100", (t) => {
  t.is(defaultControl(5), 0);
  t.is(defaultControl(300), 30);
  t.is(defaultControl(1_000_000), 100);
});

test("parsers never throw anything but a UsageError (fuzzed)", (t) => {
  const text = fc.oneof(fc.string(), fc.stringMatching(/^[a-zA-Z0-9=.,/:\-_ ]{0,30}$/));
  const isUsage = (fn: () => unknown) => {
    try {
      fn();
      return true;
    } catch (err) {
      return err instanceof UsageError;
    }
  };
  const single = fc.check(fc.property(text, (s) => isUsage(() => parseReasons(s)) && isUsage(() => parseShard(s))), { numRuns: 500 });
  t.false(single.failed, `counterexample: ${JSON.stringify(single.counterexample)}`);
  const keys = ["prepare", "serials", "control", "count", "duration", "rate", "concurrency", "batch", "role", "reasons", "sample", "shard", "timeout", "propagationTimeout", "minRate", "maxP99", "maxPropagation", "maxErrors"] as const;
  const whole = fc.check(
    fc.property(fc.dictionary(fc.constantFrom(...keys), text), (raw) => isUsage(() => parseLoadOptions({ ca: "embedded", ...raw }))),
    { numRuns: 500 },
  );
  t.false(whole.failed, `counterexample: ${JSON.stringify(whole.counterexample)}`);
});

const dir = (t: import("ava").ExecutionContext) => {
  const d = mkdtempSync(join(tmpdir(), "cardloop-plan-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

test("the serials file round-trips with codes, is written 0600, and reads plain serials, comments and blank lines", (t) => {
  const d = dir(t);
  const targets: LoadTarget[] = [
    { serial: "1a2b", holder: { id: "load-x-0", name: "Load Holder 0", email: "0.x@load.invalid", code: "ABCD-EFGH-IJKL" } },
    { serial: "ff", holder: { id: "load-x-1", name: "Load Holder 1", email: "1.x@load.invalid", code: "MNOP-QRST-UVWX" } },
    { serial: "10" },
  ];
  const f = join(d, "serials.tsv");
  writeSerialsFile(f, targets);
  t.is(statSync(f).mode & 0o777, 0o600);
  t.deepEqual(readSerialsFile(f), targets);
  const plain = join(d, "plain.txt");
  writeFileSync(plain, "# a comment\n\n0A\r\n  \n0x0b\n");
  t.deepEqual(readSerialsFile(plain), [{ serial: "a" }, { serial: "b" }]);
});

test("--save-serials over an existing world-readable file: replaced by a new 0600 file (never the old mode), no temp file left", (t) => {
  const d = dir(t);
  const f = join(d, "serials.tsv");
  writeFileSync(f, "old\n", { mode: 0o644 });
  chmodSync(f, 0o644);
  const before = statSync(f).ino;
  writeSerialsFile(f, [{ serial: "1a", holder: { id: "h", name: "N", email: "e@x.invalid", code: "SECRET-CODE-1" } }]);
  t.is(statSync(f).mode & 0o777, 0o600);
  // a new inode: the codes were never written into the old (0644) file
  t.not(statSync(f).ino, before);
  t.deepEqual(readdirSync(d), ["serials.tsv"]);
  t.throws(() => writeSerialsFile(join(d, "no-such-dir", "s.tsv"), []), { instanceOf: UsageError, message: /cannot write --save-serials .*ENOENT/ });
});

test("a bad serials line names file:line and never the line (it may hold a code)", (t) => {
  const d = dir(t);
  const f = join(d, "bad.tsv");
  const cases: Array<[string, RegExp]> = [
    ["0a\tSECRET-CODE\n", /bad\.tsv:1: expected a serial, or serial<TAB>code/],
    ["0a\n\nnot-hex\tSECRET-CODE\tm@x\tN\tid\n", /bad\.tsv:3: the serial must be hex/],
    ["0a\tSECRET-CODE\tm@x\t\tid\n", /bad\.tsv:1: the name field is empty/],
    ["0a\n0A\n", /bad\.tsv:2: the serial is listed twice/],
  ];
  for (const [text, re] of cases) {
    writeFileSync(f, text);
    const message = usageMessage(t, () => readSerialsFile(f));
    t.regex(message, re);
    t.false(message.includes("SECRET"));
  }
  t.regex(usageMessage(t, () => readSerialsFile(join(d, "missing.txt"))), /cannot read --serials .*ENOENT/);
  // A field that would not read back is refused when writing, not silently broken.
  t.regex(usageMessage(t, () => writeSerialsFile(join(d, "w.tsv"), [{ serial: "1", holder: { id: "a", name: "x\ty", email: "e", code: "c" } }])), /cannot be written/);
  t.is(readFileSync(f, "utf8"), "0a\n0A\n");
});
