import test from "ava";
import fc from "fast-check";
import { CaError } from "../simulator/ca/index.js";
import { TerminalRefusal } from "../simulator/terminal/index.js";
import { compare, refusalOutcome, wrongSecret } from "./outcome.js";

test("compare: only the expected fields count; a mismatch says what and why", (t) => {
  t.is(compare({ result: "ok" }, { result: "ok", daysLeft: 3 }), undefined);
  t.is(compare({ result: "refused", retries: 2 }, { result: "refused", reason: "wrong-pin", retries: 2 }), undefined);
  t.is(compare({ result: "ok" }, { result: "refused", reason: "revoked" }), 'result: expected "ok", got "refused" (refused: revoked)');
  t.is(compare({ codeHolders: ["holder"] }, { result: "ok", codeHolders: ["holder", "legal-representative"] }), 'codeHolders: expected ["holder"], got ["holder","legal-representative"]');
  t.is(compare({ alert: true }, { result: "ok" }), "alert: expected true, got nothing");
  t.is(compare({ validYears: 3 }, { result: "ok", validYears: 3 }), undefined);
});

test("refusals become outcomes; anything else stays an error", (t) => {
  t.deepEqual(refusalOutcome(new TerminalRefusal("wrong-pin", "x", { retries: 1 })), { result: "refused", reason: "wrong-pin", retries: 1 });
  t.deepEqual(refusalOutcome(new TerminalRefusal("revoked", "x", { check: { result: "revoked" } })), { result: "refused", reason: "revoked", validation: "revoked" });
  t.deepEqual(refusalOutcome(new CaError(403, "forbidden", "no")), { result: "refused", reason: "forbidden" });
  t.is(refusalOutcome(new TypeError("bug")), undefined);
});

test("property: a wrong secret has the same shape and differs in every letter and digit", (t) => {
  const property = fc.property(fc.stringMatching(/^[0-9A-Za-z-]{1,20}$/), (s) => {
    const w = wrongSecret(s);
    return w.length === s.length && [...s].every((ch, i) => (/[0-9A-Za-z]/.test(ch) ? w[i] !== ch : w[i] === ch));
  });
  t.notThrows(() => fc.assert(property));
});
