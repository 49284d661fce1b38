import type { CertifyReport, CheckRow } from "./certify-model.js";
import { evidenceParts } from "./certify-evidence.js";
import { CLASS_LABEL, artefactFacts, capabilityFacts, countsText, notJudgedText, provenanceFacts, verdictText, warningText } from "./certify-wording.js";

/** A table cell: one line, pipes escaped. */
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** Inline code that survives backticks in the text. */
function code(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((x) => x.length));
  const fence = "`".repeat(longest + 1);
  return longest ? `${fence} ${s} ${fence}` : `${fence}${s}${fence}`;
}

/** A fenced block longer than any backtick run inside, so nothing in the evidence can close it. */
function fenced(text: string, lang = ""): string[] {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((x) => x.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return [`${fence}${lang}`, text.replace(/\r?\n$/, ""), fence];
}

/**
 * certify as Markdown (a CI step summary, a ticket): what the CA gets wrong,
 * warnings, what could not be judged and how to fix that (each only when it
 * has something), provenance, every check, then the evidence with PEM blocks
 * in fenced code blocks.
 */
export function certifyMarkdown(r: CertifyReport): string {
  const lines = [`# cardloop certify: ${r.ca}`, "", `Verdict: **${verdictText(r)}**: ${countsText(r)}`, ""];
  // An empty section is left out: "What this CA gets wrong" appears only when the CA gets something wrong.
  const section = (title: string, rows: CheckRow[], line: (c: CheckRow) => string) => {
    if (rows.length === 0) return;
    lines.push(`## ${title}`, "");
    for (const c of rows) {
      lines.push(line(c));
      if (c.reproduce) lines.push(`  - reproduce: ${code(c.reproduce)}`);
    }
    lines.push("");
  };
  const of = (...classes: CheckRow["class"][]) => r.checks.filter((c) => classes.includes(c.class));
  section("What this CA gets wrong", of("defect"), (c) => `- **${c.id}** (${c.level}, ${c.source}): ${c.message}${c.fix ? ` Fix: ${c.fix}` : ""}`);
  section("Warnings", of("warning"), (c) => `- **${c.id}** (${c.level}, ${c.source}): ${warningText(c)}`);
  section(
    "Not judged (not CA defects)",
    of("not-judged", "not-judged-allowed"),
    (c) => `- **${c.id}** (${c.level}${c.class === "not-judged-allowed" ? ", allowed" : ""}): ${notJudgedText(c)}`,
  );

  lines.push("## Provenance", "", "| fact | value |", "| --- | --- |");
  for (const f of provenanceFacts(r)) lines.push(`| ${cell(f.label)} | ${cell(f.value)} |`);
  const caps = capabilityFacts(r);
  if (caps.length) lines.push(`| capabilities | ${cell(caps.map((f) => `${f.label}: ${f.value}`).join(", "))} |`);
  const artefacts = artefactFacts(r);
  if (artefacts.length) {
    lines.push("", "How each artefact was produced:", "", "| artefact | by | command | note |", "| --- | --- | --- | --- |");
    for (const a of artefacts) lines.push(`| ${a.label} | ${a.by === "ca" ? "CA" : "adapter"} | ${cell(code(a.how))} | ${cell(a.note ?? "")} |`);
  }

  lines.push("", "## All checks", "", "| ID | Level | Result | Title | Source | Message |", "| --- | --- | --- | --- | --- | --- |");
  for (const c of r.checks) lines.push(`| ${c.id} | ${c.level} | ${CLASS_LABEL[c.class]} | ${cell(c.title)} | ${cell(c.source)} | ${cell(c.message)} |`);

  lines.push("");
  const withEvidence = r.checks.map((c) => ({ c, parts: evidenceParts(c.evidence) })).filter((x) => x.parts.length > 0);
  if (withEvidence.length) lines.push("## Evidence", "");
  for (const { c, parts } of withEvidence) {
    lines.push(`### ${c.id}`, "");
    const json = parts.filter((p) => p.kind === "json");
    if (json.length) lines.push(...fenced(JSON.stringify(Object.fromEntries(json.map((p) => [p.key, p.value])), null, 2), "json"), "");
    for (const p of parts.filter((x) => x.kind === "hex")) lines.push(`- ${p.key}: ${code(p.text)}`, "");
    for (const p of parts.filter((x) => x.kind === "pem")) lines.push(`${p.key}:`, "", ...fenced(p.text), "");
  }
  return lines.join("\n").replace(/\n+$/, "") + "\n";
}
