import test from "ava";
import type { AnyEvent } from "../core/index.js";
import { buildReport, toJUnit } from "../reports/index.js";
import { libraryFiles, loadScenario, registerCaTarget, runScenario } from "./index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { leaks, spyOnCa } from "../test/support/secrets.js";

/**
 * Secrets never reach the run log or a report: not the PINs the holders choose,
 * not the PUK, not a cancellation code the CA hands out (nor a guessed one),
 * not the operator's identity answers, not the operator token. The CA here is
 * the embedded one, wrapped so that the test learns every code it issued and
 * every credential a terminal sent it.
 */
const seen = new Set<string>();
const SPY = "embedded-spy";

registerCaTarget(
  (t) => t === SPY,
  async (_t, opts) => {
    const ca = await EmbeddedCa.open({ clock: opts.clock, random: opts.random, policy: opts.policy, kdfLog2N: 4 });
    spyOnCa(ca, seen);
    return { ca };
  },
);

test("no PIN, PUK, cancellation code, identity answer, operator or station token in the events or the reports", async (t) => {
  const files = libraryFiles().filter((f) => /0[348]-|10-/.test(f));
  t.is(files.length, 4);
  const events: AnyEvent[] = [];
  for (const f of files) {
    const s = loadScenario(f);
    for (const c of s.cards) seen.add(c.pin);
    seen.add(s.policy.puk);
    for (const h of s.holders) for (const a of Object.values(h.answers)) seen.add(a);
    for (const st of s.steps) for (const v of [st.args.pin, st.args.puk, st.args.newPin, st.args.code]) if (v && v !== "wrong" && v !== "correct") seen.add(v);
    const r = await runScenario(s, { ca: SPY, sink: (e) => events.push(e) });
    t.is(r.outcome, "pass", f);
  }
  const codes = [...seen].filter((s) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(s));
  t.true(codes.length >= 6, "the spy saw the codes handed out and guessed");
  t.true([...seen].some((s) => /^\d{8}$/.test(s)), "and the PUK");

  const log = events.map((e) => JSON.stringify(e)).join("\n");
  const report = buildReport(events);
  const outputs = { "run log": log, junit: toJUnit(report) };
  for (const [where, text] of Object.entries(outputs)) {
    for (const secret of seen) {
      t.false(leaks(text, secret), `${secret} in the ${where}`);
      const bare = secret.replace(/-/g, "");
      if (bare !== secret) t.false(leaks(text, bare), `${bare} in the ${where}`);
    }
  }
});
