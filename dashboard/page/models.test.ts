import test from "ava";
import type { AnyEvent } from "../../core/events.js";
import { LOAD_METRICS } from "../../core/load-events.js";
import { buildReport } from "../../reports/model.js";
import { isSecretDataIns, swHex, swMeaning } from "../../core/apdu.js";
import { decodeExchange, swText } from "./apdu-decode.js";
import { liveCertify } from "./certify-live.js";
import { compareChecks } from "./compare-model.js";
import { histogram } from "./histogram.js";
import { delaySummary, loadSeries } from "./load-model.js";
import { compareHref, parseRoute, runHref, runsOnScreen } from "./router.js";
import { scenarioExchanges } from "./scenario-model.js";

// The page's DOM-free pieces: what each view is computed from.

let seq = 0;
const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const e = (type: string, data: Record<string, unknown>, time = at(0)) => ({ type, seq: seq++, time, data }) as unknown as AnyEvent;

test("routes round-trip ids that hold / and % and reject malformed escapes", (t) => {
  for (const id of ["ci/job-3", ".", "certify-20260101T000000-0a1b2c3d", "a%b c"]) t.deepEqual(parseRoute(runHref(id)), { view: "run", id });
  t.deepEqual(parseRoute(compareHref("x/1", "y")), { view: "compare", a: "x/1", b: "y" });
  t.deepEqual(parseRoute("#/run/%E0%A4%A"), { view: "runs" });
  t.deepEqual(parseRoute(""), { view: "runs" });
  t.deepEqual(runsOnScreen(parseRoute(compareHref("a", "a"))), ["a"]);
});

test("an exchange decodes to the instruction's name, its data as logged and the status word's meaning", (t) => {
  const verify = decodeExchange({ command: "0020008008FFFFFFFFFFFFFFFF", response: "63C2", sw: "63C2", micros: 72 });
  t.like(verify, { insName: "VERIFY", header: "00200080", data: "FFFFFFFFFFFFFFFF", sw: "63C2", swMeaning: "verification failed, 2 tries left", ok: false, masked: true, micros: 72 });
  const get = decodeExchange({ command: "00CB3FFF055C035FC10200", response: "533B30019000", sw: "9000" });
  t.like(get, { insName: "GET DATA", data: "5C035FC102", le: 256, responseData: "533B3001", swMeaning: "success", ok: true, masked: false });
  t.is(swText("6A82"), "data object or application not found");
  t.is(swText("6110"), "success, 16 more bytes to GET RESPONSE");
  t.is(decodeExchange({ command: "00FD0000", response: "6D00", sw: "6D00" }).insName, "INS FD");
});

test("status words and masked instructions mean what core says: one table for the page and the terminal", (t) => {
  const differ = Array.from({ length: 0x10000 }, (_, sw) => sw).filter((sw) => swText(swHex(sw)) !== swMeaning(sw) || swText(swHex(sw).toLowerCase()) !== swMeaning(sw));
  t.deepEqual(differ, []);
  t.is(swText("9G00"), "unknown status");
  t.is(swText(""), "unknown status");
  const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, "0");
  const masked = Array.from({ length: 256 }, (_, ins) => ins).filter((ins) => decodeExchange({ command: `00${hex(ins)}000002FFFF`, sw: "9000" }).masked);
  t.deepEqual(masked, Array.from({ length: 256 }, (_, ins) => ins).filter(isSecretDataIns));
  t.deepEqual(masked, [0x20, 0x24, 0x2c, 0xfe, 0xff]);
});

test("each step of each scenario gets its own exchanges, aligned with the report's steps", (t) => {
  const x = (ins: string, sw = "9000") => e("apdu.exchange", { reader: "r", command: `00${ins}0000`, response: sw, sw, micros: 100 });
  const events = [
    e("run.started", { name: "one", kind: "scenario" }),
    x("A4"),
    e("step.started", { scenario: "one", index: 0, action: "issue" }),
    x("47"),
    x("87"),
    e("step.finished", { scenario: "one", index: 0, action: "issue", outcome: "pass" }, at(5)),
    e("step.started", { scenario: "one", index: 1, action: "sign" }),
    e("step.finished", { scenario: "one", index: 1, action: "sign", outcome: "fail", expected: "ok", actual: "6982" }, at(9)),
    e("run.finished", { outcome: "fail" }, at(9)),
    e("run.started", { name: "two", kind: "scenario" }),
    e("step.started", { scenario: "two", index: 0, action: "use" }),
    x("20", "6982"),
  ];
  const report = buildReport(events);
  const ex = scenarioExchanges(events);
  t.is(ex.length, report.runs.length);
  t.deepEqual(ex[0].steps.map((s) => s.map((y) => y.insName)), [["GENERATE ASYMMETRIC KEY PAIR", "GENERAL AUTHENTICATE"], []]);
  t.deepEqual(ex[0].outside.map((y) => y.insName), ["SELECT"]);
  t.is(ex[0].steps[0][0].at, 3, "an exchange knows its position in the run");
  t.true(ex[0].finished);
  t.false(ex[1].finished);
  t.like(ex[1].current, { action: "use", exchanges: [{ insName: "VERIFY", sw: "6982" }] });
  t.deepEqual(ex[0].byInstruction.get("SELECT"), { count: 1, micros: 100 });
});

test("compare: rows differ by result (or a check only one run has), listed first; messages alone do not differ", (t) => {
  const head = (id: string) => ({ id, title: id, level: "MUST", source: "s" });
  const run = (rows: Array<[string, string, string]>) =>
    liveCertify([
      e("run.started", { name: "certify", kind: "certify", meta: { ca: "x" } }),
      ...rows.flatMap(([id, outcome, message]) => [e("check.started", head(id)), e("check.finished", { ...head(id), outcome, message })]),
      e("run.finished", { outcome: "pass" }),
    ], false);
  const rows = compareChecks(
    run([["A", "pass", "serial 1"], ["B", "pass", ""], ["C", "fail", ""]]),
    run([["A", "pass", "serial 2"], ["B", "fail", ""], ["D", "pass", ""]]),
  );
  t.deepEqual(rows.map((r) => [r.id, r.differs]), [["B", true], ["C", true], ["D", true], ["A", false]]);
  t.deepEqual(rows.map((r) => [r.aState, r.bState]), [["done", "done"], ["done", "absent"], ["absent", "done"], ["done", "done"]]);
});

test("compare: a check still running, or not reached yet by a run still going, is shown so and is no difference", (t) => {
  const head = (id: string) => ({ id, title: id, level: "MUST", source: "s" });
  const checks = (ids: Array<[string, string]>) => ids.flatMap(([id, outcome]) => [e("check.started", head(id)), e("check.finished", { ...head(id), outcome, message: "" })]);
  const start = e("run.started", { name: "certify", kind: "certify", meta: { ca: "x" } });
  const done = [start, ...checks([["A", "pass"], ["B", "pass"], ["C", "fail"]]), e("run.finished", { outcome: "fail" })];
  // B is under way in the live run; C is not reached yet
  const live = [start, ...checks([["A", "fail"]]), e("check.started", head("B"))];
  const a = liveCertify(done, false);
  const b = liveCertify(live, true);
  t.deepEqual([...b.inFlight], ["B"]);
  t.false(b.report.checks.some((c) => c.id === "RUN-INCOMPLETE"), "a run still going lacks its end: no RUN-INCOMPLETE row");
  const rows = compareChecks(a, b);
  t.deepEqual(rows.map((r) => [r.id, r.differs, r.aState, r.bState]), [["A", true, "done", "done"], ["B", false, "done", "running"], ["C", false, "done", "not yet"]]);
  // the same log read as finished (the run was cut short): the check under way is a result, the missing one a difference
  const cut = compareChecks(a, liveCertify(live, false));
  t.deepEqual(cut.filter((r) => r.differs).map((r) => r.id), ["A", "B", "C", "RUN-INCOMPLETE"]);
  t.is(liveCertify(live, false).inFlight.size, 0);
});

test("histogram bins span min to max, the largest sample in the last bin", (t) => {
  t.deepEqual(histogram([1, 2, 3, 4, 5], 4), { edges: [1, 2, 3, 4], width: 1, counts: [1, 1, 1, 2] });
  t.deepEqual(histogram([2, 2]), { edges: [2], width: 0, counts: [2] });
  t.deepEqual(histogram([]).counts, []);
});

test("a load run's series come from the metric.sample events core/load-events.ts names, x in seconds since the start", (t) => {
  const m = (name: string, value: number, s: number, labels?: Record<string, string>) => e("metric.sample", { name, value, unit: "x", ...(labels ? { labels } : {}) }, at(s));
  const s = loadSeries([
    e("run.started", { name: "load", kind: "load", meta: { ca: "embedded" } }, at(10)),
    m(LOAD_METRICS.throughput, 100, 11, { phase: "revoke" }),
    m(LOAD_METRICS.latencyP50, 4, 11),
    m(LOAD_METRICS.latencyP99, 9, 11),
    m(LOAD_METRICS.throughput, 120, 12, { phase: "revoke" }),
    m(LOAD_METRICS.propagationOcsp, 300, 13),
    m(LOAD_METRICS.propagationOcsp, 100, 14),
    m(LOAD_METRICS.propagationCrl, 2000, 14),
    m(LOAD_METRICS.errors, 3, 14, { class: "timeout" }),
    m("other.metric", 1, 15),
  ]);
  t.deepEqual(s.throughput.get("revoke"), [{ x: 1, y: 100 }, { x: 2, y: 120 }]);
  t.deepEqual(s.p99, [{ x: 1, y: 9 }]);
  t.deepEqual(delaySummary(s.ocsp), { count: 2, p50: 100, p99: 300, max: 300 });
  t.is(s.errors.get("timeout"), 3);
  t.is(s.lastX, 5);
});
