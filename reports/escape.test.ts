import test from "ava";
import { EventBus, VirtualClock, type AnyEvent } from "../core/index.js";
import { escapeHtml, inlineJson, showable } from "./escape.js";
import { buildCertifyReport, buildQualificationReport, certifyHtml, qualificationHtml, qualificationJunit } from "./index.js";

const HOSTILE = `R&D <"card"> it's \u0001\u001f\ufffe\tok\n`;

test("text is escaped for HTML; controls XML and HTML cannot carry are shown as ?, tab and newline kept", (t) => {
  t.is(escapeHtml(HOSTILE), "R&amp;D &lt;&quot;card&quot;&gt; it&apos;s ???\tok\n");
  t.is(showable("a\u0000b\u000bc\u000cd\re"), "a?b?c?d\re");
});

test("inline JSON cannot close its script or open a comment, and reads back the same", (t) => {
  const value = { s: "</script><!-- <b>", n: [1, 2] };
  const js = inlineJson(value);
  t.false(js.includes("<"));
  t.deepEqual(JSON.parse(js), value);
});

test("every kind of report shows the same hostile text the same way", (t) => {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const head = { id: "X-1", title: "t", level: "MUST" as const, source: "s" };
  bus.emit("run.started", { name: "certify", kind: "certify", meta: { ca: "ca" } });
  bus.emit("qualify.started", { reader: "r", iterations: 1, thresholds: {} });
  bus.emit("check.started", head);
  bus.emit("check.finished", { ...head, outcome: "fail", message: HOSTILE, durationMs: 1 });
  bus.emit("run.finished", { outcome: "fail" });
  const shown = escapeHtml(HOSTILE);
  t.true(certifyHtml(buildCertifyReport(events)).includes(shown));
  t.true(qualificationHtml(buildQualificationReport(events)).includes(shown));
  t.true(qualificationJunit(buildQualificationReport(events)).includes('message="R&amp;D &lt;&quot;card&quot;&gt; it\'s ???\tok&#10;"'));
});
