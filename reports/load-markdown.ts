import type { LoadPercentiles, LoadSummaryData } from "../core/browser.js";
import { escapeMarkdown, markdownCode, markdownLine } from "./escape.js";
import { bounded, channels, completenessText, count, errorRows, modeText, moreText, ms, notesOf, rate, seconds, verdictText, VERDICT_LABEL } from "./load-format.js";
import type { LoadReport } from "./load-model.js";

/**
 * A load run as Markdown for a CI step summary: the verdict, the figures as
 * tables, the gates, and what was lost or wrongly revoked (bounded lists).
 * Every text from the run log is inert (escapeMarkdown), as in certify's.
 */
export function loadMarkdown(r: LoadReport): string {
  const lines = [`## cardloop load revoke: ${VERDICT_LABEL[r.verdict]} against ${cell(r.ca)}`, "", cell(verdictText(r)), ""];
  lines.push(...phases(r));
  const s = r.summary;
  if (s) lines.push(...figures(s), ...notes(s), ...gates(s), ...lists(s));
  return lines.join("\n") + "\n";
}

const cell = escapeMarkdown;
/** A serial in a code span, on one line whatever the run log holds. */
const code = (s: string) => markdownCode(markdownLine(s));

function table(head: string[], rows: string[][], align: string[] = head.map(() => "---")): string[] {
  return [`| ${head.join(" | ")} |`, `| ${align.join(" | ")} |`, ...rows.map((row) => `| ${row.join(" | ")} |`), ""];
}

function phases(r: LoadReport): string[] {
  if (r.phases.length === 0) return ["No phase started.", ""];
  return [
    "### Phases",
    "",
    ...table(
      ["phase", "time", "counts"],
      r.phases.map((p) => [
        p.phase,
        p.finished === undefined ? "started, never finished" : seconds(p.ms),
        cell(Object.entries(p.detail).map(([k, v]) => `${k} ${String(v)}`).join(", ")),
      ]),
    ),
  ];
}

const percentileHead = ["n", "p50", "p90", "p99", "p99.9", "max", "mean"];
const percentileAlign = percentileHead.map(() => "---:");
const percentileCells = (p: LoadPercentiles) => [count(p.count), ms(p.p50), ms(p.p90), ms(p.p99), ms(p.p999), ms(p.max), ms(p.mean)];

function figures(s: LoadSummaryData): string[] {
  const p = s.prepare;
  const v = s.revoke;
  return [
    "### Throughput",
    "",
    ...table(
      ["phase", "count", "time", "rate", "detail"],
      [
        ["prepare", `${count(p.certificates)} + ${count(p.control)} control`, seconds(p.ms), rate(p.perSecond), `${cell(p.source)}, ${count(p.failed)} failed`],
        ["revoke", `${count(v.acknowledged)} acknowledged of ${count(v.serialsSent)}`, seconds(v.ms), rate(v.perSecond), cell(`${count(v.requests)} requests, ${modeText(s)}`)],
      ],
      ["---", "---:", "---:", "---:", "---"],
    ),
    "### Latency of revocation requests",
    "",
    ...table(percentileHead, [percentileCells(v.latencyMs)], percentileAlign),
    "### Propagation (acknowledgement until published)",
    "",
    ...table(
      ["channel", "watched", "seen", "not seen", ...percentileHead.slice(1)],
      channels(s).map(([name, c]) => [name, count(c.watched), String(c.delaysMs.length), String(c.notSeen.length), ...percentileCells(c).slice(1)]),
      ["---", "---:", "---:", "---:", ...percentileAlign.slice(1)],
    ),
    "### Completeness",
    "",
    completenessText(s.completeness),
    "",
    "### Errors (failed serials by class)",
    "",
    ...(errorRows(v.errors).length ? table(["class", "serials"], errorRows(v.errors).map(([cls, n]) => [cell(cls), count(n)]), ["---", "---:"]) : ["None.", ""]),
  ];
}

function notes(s: LoadSummaryData): string[] {
  const all = notesOf(s);
  return all.length ? ["### Notes", "", ...all.map((n) => `- ${cell(n)}`), ""] : [];
}

function gates(s: LoadSummaryData): string[] {
  if (s.gates.length === 0) return ["### Gates", "", "No gate was set.", ""];
  return ["### Gates", "", ...table(["", "gate", "limit", "actual"], s.gates.map((g) => [g.passed ? "✅ PASS" : "❌ FAIL", cell(g.gate), cell(g.limit), cell(g.actual)]))];
}

function lists(s: LoadSummaryData): string[] {
  const c = s.completeness;
  const out: string[] = [];
  const section = <T>(title: string, items: readonly T[], line: (x: T) => string) => {
    if (items.length === 0) return;
    const { shown, more } = bounded(items);
    out.push(`### ${title} (${items.length})`, "", ...shown.map((x) => `- ${line(x)}`), ...(more ? [`- ${moreText(more)}`] : []), "");
  };
  section("Lost: acknowledged, not published", c.lost, (l) => `${code(l.serial)}: CRL ${cell(l.crl)}, OCSP ${cell(l.ocsp)}`);
  section("Wrongly revoked", c.wronglyRevoked, (serial) => code(serial));
  section("Published with the wrong reason", c.wrongReason, (w) => `${code(w.serial)}: expected ${cell(w.expected)}, CRL ${cell(w.crl ?? "-")}, OCSP ${cell(w.ocsp ?? "-")}`);
  for (const [name, ch] of channels(s)) section(`Not seen on ${name} within the propagation timeout`, ch.notSeen, (serial) => code(serial));
  return out;
}
