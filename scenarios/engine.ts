import { performance } from "node:perf_hooks";
import { EventBus, SeededRandom, UsageError, VirtualClock, errorMessage, type AnyEvent, type Outcome } from "../core/index.js";
import { PivCard, TearingCard, newPivState, type Card, type PivCardOptions } from "../simulator/card/index.js";
import { MobileApp } from "../simulator/terminal/index.js";
import { TracedReader, applyFaults, faultRandom, type FaultProfile, type Reader } from "../simulator/reader/index.js";
import { openCa, type OpenedCa } from "./ca-target.js";
import "./events.js";
import type { Scenario, Step } from "./format.js";
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
  /** A fault profile for every card's reader (`run --faults`): replaces the scenario's own `faults:`. */
  faults?: FaultProfile;
}

/**
 * A scenario opened for running: CA and cards ready, `run.started` emitted.
 * `runScenario` runs a file's steps through it; `explore` runs steps it
 * generates one at a time, checking each before choosing the next.
 */
export interface ScenarioSession {
  /** The scenario as run (moved forward when the CA keeps its own time). */
  readonly scenario: Scenario;
  readonly clock: VirtualClock;
  readonly bus: EventBus;
  /** Set when the run could not start (the CA did not open, a reader failed): no step can run. */
  readonly error?: string;
  /** Runs one step and checks its expectation. Never throws for a failing step. */
  step(step: Step): Promise<StepResult>;
  /** Closes cards and CA, emits `run.finished`; throws a UsageError the opening met (the caller exits 2). */
  finish(): Promise<ScenarioResult>;
}

/** Runs one scenario: each step, then its expectation. Never throws for a failing step. */
export async function runScenario(original: Scenario, opts: RunOptions = {}): Promise<ScenarioResult> {
  const session = await openScenario(original, opts);
  if (session.error === undefined) {
    try {
      for (const step of session.scenario.steps) await session.step(step);
    } catch {
      // the session has kept the error: finish() reports the run as broken
    }
  }
  return session.finish();
}

/** Opens a scenario's CA and cards and emits `run.started`; a failure to open is kept in `error`, reported by finish(). */
export async function openScenario(original: Scenario, opts: RunOptions = {}): Promise<ScenarioSession> {
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
  let world: World | undefined;
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
  const fail = (err: unknown) => {
    // Unusable input (an unknown reader kind, a CA target that cannot be used): the caller exits 2.
    if (err instanceof UsageError) usageError = err;
    // The run itself broke (the CA did not open, a reader failed): reported as an error, not a pass.
    runError = errorMessage(err);
    if (!started) start(0);
    bus.emit("log.message", { level: "error", message: `run aborted: ${runError}` });
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
    const faults = opts.faults ?? scenario.faults;
    // A scenario's own faults: names only its cards (format.ts checks); a profile from outside may serve other files.
    const absent = (opts.faults?.cards ?? []).filter((id) => !scenario.cards.some((c) => c.id === id));
    if (absent.length > 0) {
      const none = absent.length === opts.faults!.cards!.length;
      bus.emit("log.message", {
        level: "warn",
        message: `fault profile: card${absent.length === 1 ? "" : "s"} ${absent.join(", ")} not in this scenario${none ? ": it runs without faults" : ""}`,
      });
    }
    for (const spec of scenario.cards) {
      const cardOptions: PivCardOptions = {
        expires: spec.expires,
        pin: scenario.policy.transportPin,
        puk: scenario.policy.puk,
        pinRetries: scenario.policy.pinRetries,
        random: random.fork(`card:${spec.id}`),
      };
      const faulted = faults !== undefined && (faults.cards === undefined || faults.cards.includes(spec.id)) ? faults : undefined;
      // Tearing needs the card's persistent memory apart from its RAM: the same card, born of the same random.
      const tearing = faulted?.rules.some((r) => r.fault.kind === "tearing")
        ? new TearingCard(newPivState(cardOptions, cardOptions.random!), { model: faulted.tearing, random: cardOptions.random })
        : undefined;
      const card: Card = tearing ?? PivCard.create(cardOptions);
      const name = `${readerKind}:${spec.id}`;
      const plain = await openCardSlot(readerKind, card, name);
      let slot = plain;
      let host: Reader = plain.reader;
      if (faulted) {
        // Between the card's reader and the terminal's traced reader: the trace shows what the host got.
        const faulty = applyFaults(plain.reader, faulted, { bus, tear: tearing, random: faultRandom(faulted, scenario.seed, spec.id) });
        host = faulty;
        // find-card puts back a card a "remove" fault pulled out
        slot = {
          reader: plain.reader,
          insert: async () => (await plain.insert(), faulty.reinsert()),
          remove: () => plain.remove(),
          close: () => plain.close(),
        };
      }
      const h = scenario.holders.find((x) => x.id === spec.holder)!;
      const org = scenario.organisations.find((o) => o.id === h.organisation);
      cards.set(spec.id, {
        spec,
        // The CA registers one card per holder id: the card's id keeps two cards of one person apart.
        holder: { id: spec.id + runTag, name: h.name, email: h.email, ...(org ? { organisation: org.name } : {}), registration: h.answers },
        organisationName: org?.name,
        slot,
        reader: new TracedReader(host, bus, { name }),
        present: true,
        pin: scenario.policy.transportPin,
        puk: scenario.policy.puk,
        app: new MobileApp(clock, scenario.policy.alertBeforeMs),
        blocked: false,
      });
    }
    world = new World(scenario, clock, bus, random, opened, cards);
  } catch (err) {
    fail(err);
  }
  let finished = false;
  const finish = async (): Promise<ScenarioResult> => {
    if (finished) throw new Error("scenario session already finished");
    finished = true;
    for (const c of cards.values()) await c.slot.close().catch(() => undefined);
    await opened?.ca.close().catch(() => undefined);
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
  };
  return {
    get scenario() {
      return scenario;
    },
    clock,
    bus,
    get error() {
      return runError;
    },
    async step(step: Step): Promise<StepResult> {
      if (world === undefined || runError !== undefined) throw new Error(`scenario ${scenario.name} is not running: ${runError ?? "not opened"}`);
      try {
        const r = await world.runStep(step);
        results.push(r);
        return r;
      } catch (err) {
        fail(err);
        throw err;
      }
    },
    finish,
  };
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
