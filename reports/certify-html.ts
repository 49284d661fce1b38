import type { CertifyReport, CheckRow } from "./certify-model.js";
import { CLASS_ORDER } from "./certify-model.js";
import { evidenceParts } from "./certify-evidence.js";
import {
  artefactFacts,
  byLabel,
  capabilityFacts,
  CLASS_LABEL,
  countsText,
  isAdapterMadePass,
  needsAttention,
  PROVENANCE_UNDECLARED,
  provenanceFacts,
  provenanceUndeclared,
  resultLabel,
  rowText,
  verdictText,
  verdictTone,
} from "./certify-wording.js";
import { escapeHtml as h } from "./escape.js";

/**
 * certify as one HTML page that works offline (nothing from the network):
 * the verdict with its exit status, what could not be judged and how to fix
 * it, every check with failures first (a filter by level and by class,
 * evidence that pastes into openssl, a copy button for each reproduction
 * command), then the provenance in full. Every text from the run log is
 * escaped.
 */
export function certifyHtml(r: CertifyReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cardloop certify: ${h(r.ca)}</title>
<style>${STYLE}</style></head><body>
<h1>cardloop certify: ${h(r.ca)}</h1>
<p class="verdict v-${verdictTone(r)}">${h(verdictText(r))}</p>
<p>${h(countsText(r))}</p>
<p class="who">${h(whoText(r))} (provenance below)</p>
${notJudgedBox(r)}
<h2>Checks</h2>
<form class="filter" id="filter">
<label>Level <select name="level"><option value="">all</option><option>MUST</option><option>SHOULD</option></select></label>
${CLASS_ORDER.map((k) => `<label><input type="checkbox" name="class" value="${k}" checked> ${h(CLASS_LABEL[k])}</label>`).join("\n")}
</form>
<table id="checks"><thead><tr><th>ID</th><th>Level</th><th>Result</th><th>Check</th><th>What was found</th></tr></thead><tbody>
${r.checks.map(checkRow).join("\n")}
</tbody></table>
${provenanceSection(r)}
<script>${SCRIPT}</script>
</body></html>
`;
}

function notJudgedBox(r: CertifyReport): string {
  const rows = r.checks.filter((c) => c.class === "not-judged" || c.class === "not-judged-allowed");
  if (rows.length === 0) return "";
  const item = (c: CheckRow) =>
    `<li><code>${h(c.id)}</code> (${h(c.cause ?? "unknown cause")}${c.class === "not-judged-allowed" ? ", allowed" : ""}): ${h(c.message)}${c.fix ? `<br><strong>Fix:</strong> ${h(c.fix)}` : ""}</li>`;
  return `<section class="not-judged-box"><h2>Not judged: what to fix</h2>
<p>certify could not judge these checks. They are not defects of the CA: fix what is said and run them again.</p>
<ul>
${rows.map(item).join("\n")}
</ul></section>`;
}

/** One line under the verdict: what was judged, by which cardloop and catalogue. */
function whoText(r: CertifyReport): string {
  const p = r.provenance;
  const ca = [p.identity.software, p.identity.version, p.identity.url ? `at ${p.identity.url}` : ""].filter(Boolean).join(" ");
  const catalogue = p.catalogue ? `catalogue ${p.catalogue.version} (${p.catalogue.sha256.slice(0, 12)})` : "";
  return [`${r.ca}: ${ca}`, p.cardloopVersion ? `judged by cardloop ${p.cardloopVersion}` : "", catalogue].filter(Boolean).join("; ");
}

function provenanceSection(r: CertifyReport): string {
  const facts = provenanceFacts(r).map((f) => `<tr><th>${h(f.label)}</th><td>${h(f.value)}</td></tr>`);
  const caps = capabilityFacts(r);
  if (caps.length) facts.push(`<tr><th>capabilities</th><td>${caps.map((f) => `<span class="cap">${h(f.label)}: <code>${h(f.value)}</code></span>`).join(" ")}</td></tr>`);
  const artefacts = artefactFacts(r);
  const made = artefacts.length
    ? `<h3>How each artefact was produced</h3>
<table class="prov"><thead><tr><th>artefact</th><th>by</th><th>command</th><th>note</th></tr></thead><tbody>
${artefacts.map((a) => `<tr><td>${h(a.label)}</td><td>${byLabel(a.by)}</td><td><code>${h(a.how)}</code></td><td>${h(a.note ?? "")}</td></tr>`).join("\n")}
</tbody></table>`
    : provenanceUndeclared(r)
      ? `<p class="undeclared">${h(PROVENANCE_UNDECLARED)}</p>`
      : "";
  return `<section><h2>Provenance</h2>
<table class="prov"><tbody>
${facts.join("\n")}
</tbody></table>
${made}</section>`;
}

function checkRow(c: CheckRow): string {
  const producedBy = (c.producedBy ?? []).map((p) => `<br><small>${h(`${p.artefact} made by the ${byLabel(p.by)}:`)} <code>${h(p.how)}</code></small>`).join("");
  return `<tr class="${c.class}" data-level="${c.level}" data-class="${c.class}">
<td><code>${h(c.id)}</code></td><td>${c.level}</td><td class="o${isAdapterMadePass(c) ? " adapter-made" : ""}">${h(resultLabel(c))}</td><td>${h(c.title)}<br><small>${h(c.source)}</small></td>
<td>${h(rowText(c))}${producedBy}${reproduce(c)}${evidence(c)}</td></tr>`;
}

/** The command that runs the check again, as text and on a copy button, where the check needs someone's attention. */
function reproduce(c: CheckRow): string {
  if (!c.reproduce || !needsAttention(c)) return "";
  return `<div class="repro"><code>${h(c.reproduce)}</code> <button type="button" class="copy" data-copy="${h(c.reproduce)}">copy</button></div>`;
}

/** PEM blocks and hex as they are (they paste into openssl), the rest as JSON. */
function evidence(c: CheckRow): string {
  const parts = evidenceParts(c.evidence);
  if (parts.length === 0) return "";
  const shown = parts.map((p) => `<div class="ev"><span class="k">${h(p.key)}</span><pre class="${p.kind}">${h(p.text)}</pre></div>`).join("\n");
  return `<details${needsAttention(c) ? " open" : ""}><summary>evidence</summary>
${shown}
</details>`;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}
.prov td{overflow-wrap:anywhere}#checks td:nth-child(-n+3){white-space:nowrap}#checks td:nth-child(4){min-width:16rem;max-width:24rem}
tr.pass .o{color:#176b1e}tr.pass .o.adapter-made{color:#8a5a00}tr.defect .o,tr.not-judged .o{color:#b00020;font-weight:bold}tr.warning .o,tr.not-judged-allowed .o{color:#8a5a00;font-weight:bold}tr.skip .o{color:#777}
pre{max-width:70rem;overflow:auto;background:#f6f6f6;padding:.5rem;font-size:.8rem;margin:.2rem 0}
.ev .k{font-family:monospace;font-size:.8rem;color:#555}
.verdict{font-size:1.4rem;font-weight:bold;padding:.6rem 1rem;border-radius:.3rem;display:inline-block}
.v-pass{background:#e3f4e4;color:#176b1e}.v-fail{background:#fbe3e6;color:#b00020}.v-incomplete{background:#fff1d6;color:#8a5a00}
.undeclared{color:#8a5a00;font-weight:bold}
.not-judged-box{border:2px solid #d9a400;background:#fffaf0;padding:.2rem 1rem;margin:1rem 0}
table.prov th{width:22rem;font-weight:normal;color:#555}.cap{display:inline-block;margin-right:1rem}
.filter label{margin-right:1rem}.repro{margin-top:.3rem}.repro code{background:#f0f0f0;padding:.1rem .3rem}
tr[hidden]{display:none}
`;

// Vanilla, inline and offline: the filter hides rows by level and class; "copy" puts a row's command on the clipboard.
const SCRIPT = `
(function () {
  var form = document.getElementById("filter");
  function apply() {
    var level = form.elements.level.value;
    var shown = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[name=class]"), function (b) { shown[b.value] = b.checked; });
    Array.prototype.forEach.call(document.querySelectorAll("#checks tbody tr"), function (tr) {
      tr.hidden = !(shown[tr.getAttribute("data-class")] && (!level || tr.getAttribute("data-level") === level));
    });
  }
  form.addEventListener("change", apply);
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
  }
  document.addEventListener("click", function (e) {
    var b = e.target;
    if (!b || !b.classList || !b.classList.contains("copy")) return;
    var text = b.getAttribute("data-copy");
    var done = function () { b.textContent = "copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    else { fallbackCopy(text); done(); }
  });
})();
`;
