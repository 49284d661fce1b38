import test from "ava";
import { certifyVerdict, classifyRow, DEFAULT_VERDICT_RULES, VERDICT_EXIT, type JudgedRow } from "./certify-verdict.js";

const rules = DEFAULT_VERDICT_RULES;
const row = (level: "MUST" | "SHOULD", outcome: JudgedRow["outcome"], madeBy?: "ca" | "adapter"): JudgedRow => ({ level, outcome, ...(madeBy ? { madeBy } : {}) });

test("a MUST failure on the CA's artefacts fails the run; on the adapter's it is a warning", (t) => {
  t.is(classifyRow(row("MUST", "fail"), rules), "defect");
  t.is(classifyRow(row("MUST", "fail", "ca"), rules), "defect");
  t.is(classifyRow(row("MUST", "fail", "adapter"), rules), "warning");
  t.is(certifyVerdict([row("MUST", "pass"), row("MUST", "fail")], rules), "fail");
  t.is(certifyVerdict([row("MUST", "pass"), row("MUST", "fail", "adapter")], rules), "pass");
  t.is(certifyVerdict([row("MUST", "fail", "adapter")], { allowIncomplete: false, strict: true }), "pass", "strict never makes the adapter's doing the CA's");
});

test("a SHOULD failure is a warning unless strict", (t) => {
  t.is(classifyRow(row("SHOULD", "fail"), rules), "warning");
  t.is(certifyVerdict([row("SHOULD", "fail")], rules), "pass");
  t.is(classifyRow(row("SHOULD", "fail"), { allowIncomplete: false, strict: true }), "defect");
  t.is(certifyVerdict([row("SHOULD", "fail")], { allowIncomplete: false, strict: true }), "fail");
});

test("a check that could not be judged leaves the run incomplete (exit 3) unless allowed; a defect still wins", (t) => {
  t.is(classifyRow(row("MUST", "error"), rules), "not-judged");
  t.is(certifyVerdict([row("MUST", "pass"), row("SHOULD", "error")], rules), "incomplete");
  t.is(certifyVerdict([row("MUST", "error"), row("MUST", "fail")], rules), "fail");
  const allowed = { allowIncomplete: true, strict: false };
  t.is(classifyRow(row("MUST", "error"), allowed), "not-judged-allowed");
  t.is(certifyVerdict([row("MUST", "pass"), row("MUST", "error")], allowed), "pass");
  t.is(classifyRow(row("MUST", "skip"), rules), "skip");
  t.is(certifyVerdict([row("MUST", "skip")], rules), "pass");
  t.deepEqual(VERDICT_EXIT, { pass: 0, fail: 1, incomplete: 3 });
});
