import type { CertifyReport, CheckRow } from "./certify-model.js";
import { evidenceParts } from "./certify-evidence.js";
import {
  adapterPassText,
  artefactFacts,
  byLabel,
  capabilityFacts,
  countsText,
  isAdapterMadePass,
  notJudgedText,
  PROVENANCE_UNDECLARED,
  provenanceFacts,
  provenanceUndeclared,
  resultLabel,
  rowText,
  verdictText,
  warningText,
} from "./certify-wording.js";
import { escapeMarkdown as text, markdownCode as code, markdownFence as fenced, markdownLine as oneLine } from "./escape.js";

/** `text` that starts a line: nor can its first characters make a heading, a list or a rule. */
const lineStart = (s: string) => text(s).replace(/^([#+=-])/, "\\$1").replace(/^(\d+)([.)])/, "$1\\$2");

/** Inline code in a table cell: one line, pipes escaped (GFM takes `\|` out before it reads the code span). */
const codeCell = (s: string) => code(oneLine(s)).replace(/\|/g, "\\|");

/**
 * certify as Markdown (a CI step summary, a ticket): what the CA gets wrong,
 * warnings, what could not be judged and how to fix that, passes on what the
 * adapter made (each only when it has something), provenance, every check,
 * then the evidence with PEM blocks in fenced code blocks. Every text from
 * the run log goes through `text` (or into a code span or fenced block).
 */
export function certifyMarkdown(r: CertifyReport): string {
  const lines = [`# cardloop certify: ${text(r.ca)}`, "", `Verdict: **${text(verdictText(r))}**: ${text(countsText(r))}`, ""];
  // An empty section is left out: "What this CA gets wrong" appears only when the CA gets something wrong.
  const section = (title: string, rows: CheckRow[], line: (c: CheckRow) => string) => {
    if (rows.length === 0) return;
    lines.push(`## ${title}`, "");
    for (const c of rows) {
      lines.push(line(c));
      if (c.reproduce) lines.push(`  - reproduce: ${code(oneLine(c.reproduce))}`);
    }
    lines.push("");
  };
  const of = (...classes: CheckRow["class"][]) => r.checks.filter((c) => classes.includes(c.class));
  const head = (c: CheckRow, ...more: string[]) => `- **${text(c.id)}** (${[c.level, ...more].map(text).join(", ")})`;
  section("What this CA gets wrong", of("defect"), (c) => `${head(c, c.source)}: ${text(c.message)}${c.fix ? ` Fix: ${text(c.fix)}` : ""}`);
  section("Warnings", of("warning"), (c) => `${head(c, c.source)}: ${text(warningText(c))}`);
  section("Not judged (not CA defects)", of("not-judged", "not-judged-allowed"), (c) => `${head(c, ...(c.class === "not-judged-allowed" ? ["allowed"] : []))}: ${text(notJudgedText(c))}`);
  section("Passes on what the adapter made (not the CA's)", r.checks.filter(isAdapterMadePass), (c) => `${head(c, c.source)}: ${text(resultLabel(c))}: ${text(adapterPassText(c))}`);

  lines.push("## Provenance", "", "| fact | value |", "| --- | --- |");
  for (const f of provenanceFacts(r)) lines.push(`| ${text(f.label)} | ${text(f.value)} |`);
  const caps = capabilityFacts(r);
  if (caps.length) lines.push(`| capabilities | ${text(caps.map((f) => `${f.label}: ${f.value}`).join(", "))} |`);
  const artefacts = artefactFacts(r);
  if (artefacts.length) {
    lines.push("", "How each artefact was produced:", "", "| artefact | by | command | note |", "| --- | --- | --- | --- |");
    for (const a of artefacts) lines.push(`| ${text(a.label)} | ${byLabel(a.by)} | ${codeCell(a.how)} | ${text(a.note ?? "")} |`);
  } else if (provenanceUndeclared(r)) {
    lines.push("", `**${text(PROVENANCE_UNDECLARED)}**`);
  }

  lines.push("", "## All checks", "", "| ID | Level | Result | Title | Source | Message |", "| --- | --- | --- | --- | --- | --- |");
  for (const c of r.checks) {
    lines.push(`| ${text(c.id)} | ${c.level} | ${text(resultLabel(c))} | ${text(c.title)} | ${text(c.source)} | ${text(rowText(c))} |`);
  }

  lines.push("");
  const withEvidence = r.checks.map((c) => ({ c, parts: evidenceParts(c.evidence) })).filter((x) => x.parts.length > 0);
  if (withEvidence.length) lines.push("## Evidence", "");
  for (const { c, parts } of withEvidence) {
    lines.push(`### ${text(c.id)}`, "");
    const json = parts.filter((p) => p.kind === "json");
    if (json.length) lines.push(...fenced(JSON.stringify(Object.fromEntries(json.map((p) => [p.key, p.value])), null, 2), "json"), "");
    for (const p of parts.filter((x) => x.kind === "hex")) lines.push(`- ${text(p.key)}: ${code(p.text)}`, "");
    for (const p of parts.filter((x) => x.kind === "pem")) lines.push(`${lineStart(p.key)}:`, "", ...fenced(p.text), "");
  }
  return lines.join("\n").replace(/\n+$/, "") + "\n";
}
