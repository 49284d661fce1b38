import { performance } from "node:perf_hooks";
import { EventBus, SeededRandom, UsageError, VirtualClock, errorMessage, type AnyEvent, type Outcome } from "../core/index.js";
import { PivCard } from "../simulator/card/index.js";
import { MobileApp } from "../simulator/terminal/index.js";
import { TracedReader } from "../simulator/reader/index.js";
import { openCa, type OpenedCa } from "./ca-target.js";
import "./events.js";
import type { Scenario } from "./format.js";
import { openCardSlot } from "./readers.js";
import { World, type CardState, type StepResult } from "./world.js";

export type { StepResult } from "./world.js";

const DAY_MS = 86_400_000;
export type { StepOutcome } from "./outcome.js";

export interface ScenarioResult {
  name: string;
  file: string;
  outcome: Outcome;
  steps: StepResult[];
  wallMs: number;
  /** Why the run stopped before its steps were done. */
  error?: string;
}

export interface RunOptions {
  /** Overrides the scenario's own `ca` (embedded | URL). */
  ca?: string;
  /** Overrides the scenario's own `reader` kind. */
  reader?: string;
  /** Receives every event of the run (e.g. a RunLogWriter's write). */
  sink?: (event: AnyEvent) => void;
}

/** Runs one scenario: each step, then its expectation. Never throws for a failing step. */
export async function runScenario(original: Scenario, opts: RunOptions = {}): Promise<ScenarioResult> {
  const t0 = performance.now();
  let scenario = original;
  const clock = new VirtualClock(scenario.start);
  const bus = new EventBus(clock);
  if (opts.sink) bus.on(opts.sink);
  const random = new SeededRandom(scenario.seed);
  const caTarget = opts.ca ?? scenario.ca;
  const readerKind = opts.reader ?? scenario.reader;
  const results: StepResult[] = [];
  let opened: OpenedCa | undefined;
  const cards = new Map<string, CardState>();
  let runError: string | undefined;
  let usageError: UsageError | undefined;
  let started = false;
  const start = (shiftMs: number) => {
    started = true;
    bus.emit("run.started", {
      name: scenario.name,
      seed: scenario.seed,
      kind: "scenario",
      meta: {
        file: scenario.file,
        ca: caTarget,
        reader: readerKind,
        policy: scenario.policy.name,
        revocation: scenario.policy.revocation,
        start: scenario.start.toISOString(),
        ...(shiftMs > 0 ? { shiftedByMs: shiftMs } : {}),
      },
    });
  };
  try {
    opened = await openCa(caTarget, { clock, random: random.fork("ca"), policy: scenario.policy });
    // A CA with its own time (a served CA) cannot go back to the scenario's start: the whole scenario moves
    // forward, by whole days so that dates keep their time of day (a card's expiry is a date).
    const behindMs = opened.now ? opened.now.getTime() - scenario.start.getTime() : 0;
    const shiftMs = behindMs > 0 ? Math.ceil(behindMs / DAY_MS) * DAY_MS : 0;
    if (shiftMs > 0) {
      scenario = shiftScenario(scenario, shiftMs);
      clock.set(scenario.start);
    }
    await opened.advanceTo?.(clock.now());
    start(shiftMs);
    // On a CA other runs share, the CA's card ids (our holder ids) must not collide with an earlier run's.
    const runTag = opened.shared ? `.${clock.nowMs().toString(36)}` : "";
    for (const spec of scenario.cards) {
      const card = PivCard.create({
        expires: spec.expires,
        pin: scenario.policy.transportPin,
        puk: scenario.policy.puk,
        pinRetries: scenario.policy.pinRetries,
        random: random.fork(`card:${spec.id}`),
      });
      const slot = await openCardSlot(readerKind, card, `${readerKind}:${spec.id}`);
      const h = scenario.holders.find((x) => x.id === spec.holder)!;
      const org = scenario.organisations.find((o) => o.id === h.organisation);
      cards.set(spec.id, {
        spec,
        // The CA registers one card per holder id: the card's id keeps two cards of one person apart.
        holder: { id: spec.id + runTag, name: h.name, email: h.email, ...(org ? { organisation: org.name } : {}), registration: h.answers },
        organisationName: org?.name,
        slot,
        reader: new TracedReader(slot.reader, bus, { name: `${readerKind}:${spec.id}` }),
        present: true,
        pin: scenario.policy.transportPin,
        puk: scenario.policy.puk,
        app: new MobileApp(clock, scenario.policy.alertBeforeMs),
        blocked: false,
      });
    }
    const world = new World(scenario, clock, bus, random, opened, cards);
    for (const step of scenario.steps) results.push(await world.runStep(step));
  } catch (err) {
    // Unusable input (an unknown reader kind, a CA target that cannot be used): the caller exits 2.
    if (err instanceof UsageError) usageError = err;
    // The run itself broke (the CA did not open, a reader failed): reported as an error, not a pass.
    runError = errorMessage(err);
    if (!started) start(0);
    bus.emit("log.message", { level: "error", message: `run aborted: ${runError}` });
  } finally {
    for (const c of cards.values()) await c.slot.close().catch(() => undefined);
    await opened?.ca.close().catch(() => undefined);
  }
  const failed = results.filter((r) => r.outcome === "fail").length;
  const errors = results.filter((r) => r.outcome === "error").length;
  const outcome: Outcome = runError || errors > 0 ? "error" : failed > 0 ? "fail" : "pass";
  const wallMs = performance.now() - t0;
  bus.emit(
    "run.finished",
    { outcome, summary: { steps: results.length, passed: results.length - failed - errors, failed, errors, wallMs, ...(runError ? { error: runError } : {}) } },
    ["summary.wallMs"],
  );
  if (usageError) throw usageError;
  return { name: scenario.name, file: scenario.file, outcome, steps: results, wallMs, ...(runError ? { error: runError } : {}) };
}

/** The same scenario, every absolute time moved forward by `ms` (relative durations are unchanged). */
export function shiftScenario(s: Scenario, ms: number): Scenario {
  const later = (d: Date) => new Date(d.getTime() + ms);
  return {
    ...s,
    start: later(s.start),
    cards: s.cards.map((c) => ({ ...c, expires: later(c.expires) })),
    steps: s.steps.map((st) => (st.args.to ? { ...st, args: { ...st.args, to: later(st.args.to) } } : st)),
  };
}
