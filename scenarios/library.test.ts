import { basename } from "node:path";
import test from "ava";
import type { AnyEvent } from "../core/index.js";
import { buildReport, toJUnit } from "../reports/index.js";
import { libraryFiles, loadScenario, registerReader, runScenario } from "./index.js";
import { MemoryReader, ReaderError, type Reader } from "../simulator/reader/index.js";

/** Each library story passes on the embedded defaults, and says what it claims to say. */
async function run(file: string) {
  const events: AnyEvent[] = [];
  const result = await runScenario(loadScenario(file), { sink: (e) => events.push(e) });
  const finished = events.filter((e) => e.type === "step.finished").map((e) => e.data as Extract<AnyEvent, { type: "step.finished" }>["data"]);
  return { result, events, finished };
}

for (const file of libraryFiles()) {
  test(`library: ${basename(file)} passes`, async (t) => {
    const { result } = await run(file);
    const failures = result.steps.filter((s) => s.outcome !== "pass").map((s) => `step ${s.step.index + 1} ${s.step.action}: ${s.message}`);
    t.deepEqual(failures, []);
    t.is(result.outcome, "pass");
  });
}

const find = (suffix: string) => libraryFiles().find((f) => f.endsWith(suffix))!;

test("signatures before a revocation: the revocation came after the signing time, and the check still passed", async (t) => {
  const { finished } = await run(find("09-signatures-before-revocation.yaml"));
  const atSigning = finished.find((d) => d.action === "verify-signature" && (d.evidence as { at?: string }).at === "signing-time")!;
  const ev = atSigning.evidence as { signingTime: string; revokedAt: string; revocationReason: string };
  t.is(atSigning.outcome, "pass");
  t.true(Date.parse(ev.revokedAt) > Date.parse(ev.signingTime));
  t.is(ev.revocationReason, "keyCompromise");
});

test("found card: the kiosk renewed the revoked certificates (proof by the card's old keys), with fresh serials", async (t) => {
  const { finished } = await run(find("07-found-card-renewed.yaml"));
  const renew = finished.find((d) => d.action === "renew")!;
  const ev = renew.evidence as { previous: Record<string, string>; serials: Record<string, string>; reissued: boolean };
  t.false(ev.reissued, "renewed through the CA's renewal, not issued afresh");
  t.notDeepEqual(ev.previous, ev.serials);
});

test("PIN lockout: the card's lifecycle shows it blocked, then unblocked", async (t) => {
  const { events } = await run(find("10-pin-lockout-and-puk-unblock.yaml"));
  const states = events.filter((e) => e.type === ("card.lifecycle" as string)).map((e) => (e.data as { state: string }).state);
  t.deepEqual(states, ["issued", "blocked", "unblocked"]);
  // The PIN verifications went to the card masked.
  const verifies = events.filter((e) => e.type === "apdu.exchange" && e.data.command.startsWith("0020008008"));
  t.true(verifies.length >= 4);
  for (const v of verifies) if (v.type === "apdu.exchange") t.is(v.data.command, "0020008008FFFFFFFFFFFFFFFF");
});

test("a reader that fails mid-run: the step is an error (not a pass, not a refusal), and JUnit says so", async (t) => {
  // A reader kind registered the way the hardware helper adds "pcsc": this one loses the card after 20 exchanges.
  registerReader("flaky", async (card, name) => {
    const inner = new MemoryReader(card, { name });
    let n = 0;
    const reader: Reader = {
      name,
      connect: () => inner.connect(),
      reset: () => inner.reset(),
      disconnect: () => inner.disconnect(),
      onPresence: (l) => inner.onPresence(l),
      transmit: async (cmd) => {
        if (++n > 20) throw new ReaderError("card removed during the exchange");
        return inner.transmit(cmd);
      },
    };
    return { reader, insert: async () => inner.insert(card), remove: async () => inner.remove(), close: async () => inner.remove() };
  });
  const events: AnyEvent[] = [];
  const result = await runScenario(loadScenario(find("02-lost-card-holder-revokes.yaml")), { reader: "flaky", sink: (e) => events.push(e) });
  t.is(result.outcome, "error");
  t.deepEqual(
    result.steps.slice(0, 2).map((s) => s.outcome),
    ["pass", "error"],
  );
  t.regex(result.steps[1].message ?? "", /card removed during the exchange/);
  const report = buildReport(events);
  t.is(report.runs[0].outcome, "error");
  t.regex(toJUnit(report), /<testcase name="02 authenticate"[^>]*>\s*<error message="step 2 authenticate \(line 18\): ReaderError: card removed/);
});
