import test from "ava";
import fc from "fast-check";
import { UsageError } from "../../core/index.js";
import { evaluateGates, formatMaxPropagation, parseMaxErrors, parseMaxPropagation, type GateFigures } from "./gates.js";

const figures = (o: Partial<GateFigures> = {}): GateFigures => ({
  perSecond: 12_000,
  p99Ms: 8,
  propagation: { ocsp: [1, 2, 3, 40], crl: [300, 400, 500, 900], notSeen: { ocsp: 0, crl: 0 } },
  ...o,
});

test("parseMaxPropagation: channel, percentile and duration, with both channels and p99 by default", (t) => {
  t.deepEqual(parseMaxPropagation("2s"), { channels: ["ocsp", "crl"], percentile: 99, ms: 2000, text: "2s" });
  t.deepEqual(parseMaxPropagation("ocsp:500ms"), { channels: ["ocsp"], percentile: 99, ms: 500, text: "ocsp:500ms" });
  t.deepEqual(parseMaxPropagation(" crl:p95=1m "), { channels: ["crl"], percentile: 95, ms: 60_000, text: "crl:p95=1m" });
  t.deepEqual(parseMaxPropagation("p99.9=250ms"), { channels: ["ocsp", "crl"], percentile: 99.9, ms: 250, text: "p99.9=250ms" });
});

test("parseMaxPropagation refuses in one line naming the option", (t) => {
  for (const bad of ["", "ocsp:", "fast", "x:2s", "p0=1s", "p101=1s", "ocsp:p=1s", "2 s", "crl:p99=", "p99 = 1s"]) {
    const err = t.throws(() => parseMaxPropagation(bad), { instanceOf: UsageError }, bad);
    t.regex(err.message, /^--max-propagation /);
    t.false(err.message.includes("\n"));
  }
});

test("property: parseMaxPropagation throws nothing but UsageError; what it accepts round-trips through its text and its canonical form", (t) => {
  const grammar = fc
    .tuple(
      fc.constantFrom("", "ocsp:", "crl:"),
      fc.option(fc.tuple(fc.integer({ min: 0, max: 120 }), fc.option(fc.integer({ min: 0, max: 999 }))), { nil: undefined }),
      fc.array(fc.tuple(fc.nat({ max: 100_000 }), fc.constantFrom("ms", "s", "m", "h", "d")), { minLength: 1, maxLength: 3 }),
    )
    .map(([c, p, d]) => `${c}${p ? `p${p[0]}${p[1] === null ? "" : `.${p[1]}`}=` : ""}${d.map(([n, u]) => `${n}${u}`).join("")}`);
  const noise = fc.string({ maxLength: 24, unit: fc.constantFrom(..."ocsprl:p=.0123456789mshdwy -x") });
  fc.assert(
    fc.property(fc.oneof(grammar, noise, fc.string({ maxLength: 30 })), (text) => {
      let g;
      try {
        g = parseMaxPropagation(text);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        if (err.message.includes("\n")) throw new Error("more than one line");
        return;
      }
      t.deepEqual(parseMaxPropagation(g.text), g);
      const canonical = parseMaxPropagation(formatMaxPropagation(g));
      t.deepEqual({ ...canonical, text: "" }, { ...g, text: "" });
      if (!(g.percentile > 0 && g.percentile <= 100 && g.ms >= 0 && g.channels.length >= 1)) throw new Error(`out of range: ${JSON.stringify(g)}`);
    }),
    { numRuns: 500 },
  );
});

test("min-rate and max-p99 pass at or inside the limit and fail outside, saying limit and actual", (t) => {
  const pass = evaluateGates({ minRate: 10_000, maxP99Ms: 8 }, figures());
  t.deepEqual(pass, [
    { gate: "min-rate", limit: "10000/s", actual: "12000/s", passed: true },
    { gate: "max-p99", limit: "8ms", actual: "8ms", passed: true },
  ]);
  const fail = evaluateGates({ minRate: 20_000, maxP99Ms: 5 }, figures());
  t.deepEqual(fail.map((g) => [g.gate, g.passed]), [["min-rate", false], ["max-p99", false]]);
  t.is(fail[0].actual, "12000/s");
});

test("a gate that cannot be judged fails and says so", (t) => {
  const [rate, p99] = evaluateGates({ minRate: 1, maxP99Ms: 100 }, figures({ perSecond: NaN, p99Ms: NaN }));
  t.false(rate.passed);
  t.regex(rate.actual, /nothing was measured/);
  t.false(p99.passed);
  t.regex(p99.actual, /no samples/);
  const [ocsp] = evaluateGates({ maxPropagation: parseMaxPropagation("ocsp:1s") }, figures({ propagation: { ocsp: [], crl: [1], notSeen: { ocsp: 0, crl: 0 } } }));
  t.false(ocsp.passed);
  t.regex(ocsp.actual, /no samples/);
});

test("max-propagation: the given percentile per channel; unseen serials fail the gate, saying how many", (t) => {
  const both = evaluateGates({ maxPropagation: parseMaxPropagation("p50=400ms") }, figures());
  t.deepEqual(both, [
    { gate: "max-propagation", limit: "ocsp p50 <= 400ms", actual: "ocsp p50 = 2ms", passed: true },
    { gate: "max-propagation", limit: "crl p50 <= 400ms", actual: "crl p50 = 400ms", passed: true },
  ]);
  const [crl] = evaluateGates({ maxPropagation: parseMaxPropagation("crl:800ms") }, figures());
  t.false(crl.passed, "p99 of the CRL delays is 900ms");
  const unseen = evaluateGates(
    { maxPropagation: parseMaxPropagation("ocsp:10s") },
    figures({ propagation: { ocsp: [1, 2], crl: [], notSeen: { ocsp: 3, crl: 0 } } }),
  );
  t.false(unseen[0].passed);
  t.regex(unseen[0].actual, /3 of 5 watched never seen/);
  const noneSeen = evaluateGates({ maxPropagation: parseMaxPropagation("ocsp:10s") }, figures({ propagation: { ocsp: [], crl: [], notSeen: { ocsp: 4, crl: 0 } } }));
  t.false(noneSeen[0].passed);
  t.regex(noneSeen[0].actual, /4 watched serials never seen/);
});

test("no gate given, no result", (t) => {
  t.deepEqual(evaluateGates({}, figures()), []);
});

test("parseMaxErrors: a count or a percentage; anything else is one UsageError naming the option", (t) => {
  t.deepEqual(parseMaxErrors("10"), { count: 10, text: "10" });
  t.deepEqual(parseMaxErrors(" 0.5% "), { percent: 0.5, text: "0.5%" });
  for (const bad of ["", "-1", "1.5", "101%", "ten", "5%%"]) t.throws(() => parseMaxErrors(bad), { instanceOf: UsageError, message: /--max-errors/ });
});

test("max-errors: any failed serial fails by default, naming the classes; the option allows a count or a share; none acknowledged always fails", (t) => {
  const revocations = { sent: 200, acknowledged: 190, errors: { reset: 7, "4xx 429 rate-limited": 3 } };
  const byDefault = evaluateGates({}, figures({ revocations }));
  t.deepEqual(byDefault, [{ gate: "max-errors", limit: "0 (default)", actual: "10 of 200 serials failed (7 reset, 3 4xx 429 rate-limited)", passed: false }]);
  t.true(evaluateGates({ maxErrors: parseMaxErrors("10") }, figures({ revocations }))[0].passed);
  t.false(evaluateGates({ maxErrors: parseMaxErrors("9") }, figures({ revocations }))[0].passed);
  t.true(evaluateGates({ maxErrors: parseMaxErrors("5%") }, figures({ revocations }))[0].passed);
  t.false(evaluateGates({ maxErrors: parseMaxErrors("4.9%") }, figures({ revocations }))[0].passed);
  // a clean run without the option adds no gate line; nothing sent, no error gates
  t.deepEqual(evaluateGates({}, figures({ revocations: { sent: 50, acknowledged: 50, errors: {} } })), []);
  t.deepEqual(evaluateGates({}, figures({ revocations: { sent: 0, acknowledged: 0, errors: {} } })), []);
  const dead = evaluateGates({ maxErrors: parseMaxErrors("100%") }, figures({ revocations: { sent: 20, acknowledged: 0, errors: { refused: 20 } } }));
  t.deepEqual(dead.map((g) => [g.gate, g.passed]), [["max-errors", true], ["acknowledged", false]]);
});
