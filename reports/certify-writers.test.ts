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

test("the report is rebuilt from check events; a check that never finished is not judged, so the run is incomplete", (t) => {
  const r = buildCertifyReport(log());
  t.is(r.ca, "x");
  // failures first: not judged, then the SHOULD warning, then pass, then skip
  // (and the run itself, which never finished, is not judged either: RUN-INCOMPLETE)
  t.deepEqual(r.checks.map((c) => [c.id, c.outcome]), [["A-4", "error"], ["RUN-INCOMPLETE", "error"], ["A-2", "fail"], ["A-1", "pass"], ["A-3", "skip"]]);
  t.is(r.verdict, "incomplete");
  t.is(r.exitCode, 3);
  t.deepEqual({ defects: r.totals.defects, warnings: r.totals.warnings, notJudged: r.totals.notJudged }, { defects: 0, warnings: 1, notJudged: 2 });
});

test("a failed SHOULD alone does not fail the verdict", (t) => {
  const events = log().slice(0, -1);
  const last = events[events.length - 1];
  events.push({ type: "run.finished", seq: last.seq + 1, time: last.time, data: { outcome: "pass" } });
  t.is(buildCertifyReport(events).verdict, "pass");
  t.is(buildCertifyReport(events.slice(0, -1)).verdict, "incomplete", "without run.finished the run did not finish");
});

test("writers escape what they print", (t) => {
  const r = buildCertifyReport(log());
  const junit = certifyJUnit(r);
  t.regex(junit, /name="A-1: title of A-1 &lt;&amp;&gt;"/);
  t.regex(junit, /<skipped message="warning: SHOULD not met: no nonce \| none"\/>/);
  t.regex(junit, /<skipped message="the CA does not offer hold"\/>/);
  // Markdown: `<&>` as entities too, since GitHub renders raw HTML in a step summary
  t.regex(certifyMarkdown(r), /\| A-2 \| SHOULD \| WARN \| title of A-2 &lt;&amp;&gt; \| RFC 5280 5.2.3 \| SHOULD not met: no nonce \\\| none \|/, "the table says what the HTML and the summary say");
  t.notRegex(certifyMarkdown(r), /title of A-\d <&>/);
  t.notRegex(certifyHtml(r), /title of A-1 <&>/);
});
