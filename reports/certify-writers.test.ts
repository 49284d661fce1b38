import test from "ava";
import { EventBus, VirtualClock, type AnyEvent } from "../core/index.js";
import { buildCertifyReport } from "./certify-model.js";
import { certifyHtml, certifyJUnit, certifyMarkdown } from "./certify-writers.js";

function log(): AnyEvent[] {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const head = (id: string, level: "MUST" | "SHOULD") => ({ id, title: `title of ${id} <&>`, level, source: "RFC 5280 5.2.3" });
  bus.emit("run.started", { name: "certify x", kind: "certify", meta: { ca: "x", capabilities: { hold: false } } });
  bus.emit("check.started", head("A-1", "MUST"));
  bus.emit("check.finished", { ...head("A-1", "MUST"), outcome: "pass", message: "ok", evidence: { n: 1 }, durationMs: 5 });
  bus.emit("check.started", head("A-2", "SHOULD"));
  bus.emit("check.finished", { ...head("A-2", "SHOULD"), outcome: "fail", message: "no nonce | none", evidence: {}, durationMs: 7 });
  bus.emit("check.started", head("A-3", "MUST"));
  bus.emit("check.finished", { ...head("A-3", "MUST"), outcome: "skip", message: "the CA does not offer hold", evidence: {} });
  bus.emit("check.started", head("A-4", "MUST"));
  return events; // A-4 never finished: the run died
}

test("the report is rebuilt from check events; a check that never finished is an error, so the verdict fails", (t) => {
  const r = buildCertifyReport(log());
  t.is(r.ca, "x");
  t.deepEqual(r.checks.map((c) => [c.id, c.outcome]), [["A-1", "pass"], ["A-2", "fail"], ["A-3", "skip"], ["A-4", "error"]]);
  t.is(r.verdict, "fail");
  t.deepEqual({ mustFailed: r.totals.mustFailed, shouldFailed: r.totals.shouldFailed }, { mustFailed: 1, shouldFailed: 1 });
});

test("a failed SHOULD alone does not fail the verdict", (t) => {
  const events = log().slice(0, -1);
  t.is(buildCertifyReport(events).verdict, "pass");
});

test("writers escape what they print", (t) => {
  const r = buildCertifyReport(log());
  const junit = certifyJUnit(r);
  t.regex(junit, /name="A-1 \[MUST\] title of A-1 &lt;&amp;&gt;"/);
  t.regex(junit, /<failure message="no nonce \| none" type="SHOULD">/);
  t.regex(junit, /<skipped message="the CA does not offer hold"\/>/);
  t.regex(certifyMarkdown(r), /\| A-2 \| SHOULD \| FAIL \| title of A-2 <&> \| RFC 5280 5.2.3 \| no nonce \\\| none \|/);
  t.notRegex(certifyHtml(r), /title of A-1 <&>/);
});
