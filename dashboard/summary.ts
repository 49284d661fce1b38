import { DEFAULT_VERDICT_RULES, LOAD_METRICS, VERDICT_EXIT, classifyRow, verdictOf, type AnyEvent, type Outcome, type RowClass, type VerdictRules } from "../core/index.js";
import { CLASS_ORDER, countsText, qualificationOutcome, record, rulesOf, scenarioSummaryText, verdictText } from "../reports/index.js";
import type { RunSummary } from "./protocol.js";

/**
 * A run's summary for the run list, kept up to date one event at a time
 * (O(1) per event: counters, never the events themselves), with the same
 * verdicts the reports compute from the whole run log:
 * - scenario: every run.started has a run.finished with outcome pass and no
 *   failed step (reports/model.ts);
 * - certify: each check.finished classified by core's classifyRow under the
 *   run's rules, verdictOf, with the reports' RUN-INCOMPLETE row and checks
 *   that never finished (reports/certify-model.ts);
 * - qualify-reader: the qualification report's rule (qualificationOutcome)
 *   over the criteria, a criterion started and never finished counting as an
 *   error; a run log without run.finished is incomplete;
 * - load: its run.finished outcome.
 * A run is "running" while the store says it is live (a publisher sending, a
 * run log growing); a pass with events the publisher dropped is incomplete.
 */

type Level = "MUST" | "SHOULD";
type MadeBy = "ca" | "adapter" | undefined;

const OUTCOMES: readonly Outcome[] = ["pass", "fail", "error", "skip"];

/** One scenario (run.started .. run.finished) of a scenario run. */
interface ScenarioState {
  outcome?: Outcome;
  stepFailed: boolean;
}

export class SummaryBuilder {
  /** Events added: the next event's sequence number. */
  events = 0;
  /** Events a publisher sent past a gap (see PublishBatch.from). */
  dropped = 0;
  origin?: RunSummary["origin"];
  updatedAt: string;
  private live = false;
  private gone = false;
  private unreadable?: { line: number; reason: string };

  private kind?: string;
  private name?: string;
  private target?: string;
  private firstTime?: string;
  private lastTime?: string;
  private wallMs = 0;
  private wallSeen = false;

  // scenario (and any kind without its own rules): one entry's worth of state per scenario, never a list
  private started = 0;
  private closedPassed = 0;
  private closedUnfinished = 0;
  private current?: ScenarioState;
  private steps = 0;
  private stepsFailed = 0;

  // certify: checks bucketed by what classifyRow reads, classified when the summary is asked for (the rules may come late)
  private rules: VerdictRules = DEFAULT_VERDICT_RULES;
  private ca?: string;
  private finishedAny = false;
  private lastOutcome?: Outcome;
  private buckets = new Map<string, { outcome: Outcome; level: Level; madeBy: MadeBy; n: number }>();
  private openChecks = new Map<string, Level>();

  // qualify-reader criteria and load samples
  private criteria: Record<Outcome, number> = { pass: 0, fail: 0, error: 0, skip: 0 };
  private samples = 0;
  private throughput?: { value: number; unit: string };

  /** A file run's start as its file tells it: the earliest updatedAt (the file's mtime) less durationMs seen so far. */
  private fileStart?: number;

  /**
   * start: a published run's start, or a file run's until its events give a duration (see startedAt).
   * generation: which copy of the run the events are (RunSummary.generation); a published run's never changes.
   */
  constructor(
    readonly id: string,
    readonly source: RunSummary["source"],
    private readonly start: string,
    readonly generation: string = source === "published" ? "published" : "file",
  ) {
    this.updatedAt = start;
  }

  /**
   * A published run: when the dashboard first heard of it. A file run: its file's mtime (updatedAt)
   * less the run's wall duration, once its events give one (each reading is a bound: a run that
   * measured d ms and was last written at m started at m - d at the latest, so the earliest is kept);
   * before that, the start the store gave (the file's birthtime, or for a file rewritten in place, when it saw the new run).
   */
  get startedAt(): string {
    if (this.source !== "file") return this.start;
    const known = this.knownDurationMs(this.kind ?? "unknown");
    const end = Date.parse(this.updatedAt);
    if (known !== undefined && Number.isFinite(end)) this.fileStart = Math.min(this.fileStart ?? Infinity, end - known);
    return this.fileStart === undefined ? this.start : new Date(this.fileStart).toISOString();
  }

  /** A publisher is sending this run's events, or its run log is growing (it stays "running" until finish()). */
  resume(): void {
    this.live = true;
    this.gone = false;
  }

  /** The publisher said it is done (or the run log stopped growing). */
  finish(): void {
    this.live = false;
  }

  /** The publisher went quiet without saying it is done: the verdict is what its events say, and the headline says why it stopped. */
  publisherWentAway(): void {
    this.live = false;
    this.gone = true;
  }

  /** The last run.started has no run.finished after it (yet). */
  get hasOpenRun(): boolean {
    return this.current !== undefined && this.current.outcome === undefined;
  }

  get isLive(): boolean {
    return this.live;
  }

  /** The run log cannot be read past this line: the events before it are all the dashboard has. */
  markUnreadable(line: number, reason: string): void {
    this.unreadable = { line, reason };
  }

  add(event: AnyEvent): void {
    this.events++;
    if (typeof event.time === "string") {
      this.firstTime ??= event.time;
      this.lastTime = event.time;
    }
    // Events come from files and publishers: every field is checked before use, a bad one is ignored.
    const d = record(event.data);
    switch (event.type) {
      case "run.started":
        return this.runStarted(d);
      case "run.finished": {
        this.finishedAny = true;
        const outcome = outcomeOf(d.outcome) ?? "error";
        this.lastOutcome = outcome;
        if (this.current) this.current.outcome = outcome;
        const wall = record(d.summary).wallMs;
        if (typeof wall === "number" && Number.isFinite(wall)) {
          this.wallMs += wall;
          this.wallSeen = true;
        }
        return;
      }
      case "step.finished":
        this.steps++;
        if (d.outcome === "fail" || d.outcome === "error") this.stepsFailed++;
        // reports/model.ts: a failed step fails its scenario whatever run.finished says.
        if (d.outcome === "fail" && this.current) this.current.stepFailed = true;
        return;
      case "check.started":
        if (typeof d.id === "string") this.openChecks.set(d.id, d.level === "SHOULD" ? "SHOULD" : "MUST");
        return;
      case "check.finished":
        return this.checkFinished(d);
      case "metric.sample":
        this.samples++;
        if (d.name === LOAD_METRICS.throughput && typeof d.value === "number") this.throughput = { value: d.value, unit: String(d.unit ?? "") };
        return;
      default:
        if ((event.type as string) === "qualify.started" && typeof d.reader === "string") this.target ??= d.reader;
    }
  }

  private runStarted(d: Record<string, unknown>): void {
    const meta = record(d.meta);
    this.kind ??= typeof d.kind === "string" ? d.kind : "scenario";
    this.name ??= typeof d.name === "string" ? d.name : this.id;
    if (this.current) {
      if (this.current.outcome === undefined) this.closedUnfinished++;
      else if (passed(this.current)) this.closedPassed++;
    }
    this.current = { stepFailed: false };
    this.started++;
    // As buildCertifyReport: the last run.started's meta says what was judged and by which rules.
    if (this.kind === "certify") {
      this.ca = String(meta.ca ?? d.name ?? this.ca ?? "unknown");
      this.rules = rulesOf(meta.rules);
    }
    if (this.target === undefined && typeof meta.ca === "string") {
      this.target = this.kind === "scenario" && typeof meta.reader === "string" ? `${meta.ca}, reader ${meta.reader}` : meta.ca;
    }
  }

  private checkFinished(d: Record<string, unknown>): void {
    const outcome = outcomeOf(d.outcome) ?? "error";
    if (typeof d.id === "string") this.openChecks.delete(d.id);
    this.criteria[outcome]++;
    const level: Level = d.level === "SHOULD" ? "SHOULD" : "MUST";
    const madeBy: MadeBy = d.madeBy === "ca" || d.madeBy === "adapter" ? d.madeBy : undefined;
    const key = `${outcome}|${level}|${madeBy ?? ""}`;
    const bucket = this.buckets.get(key);
    if (bucket) bucket.n++;
    else this.buckets.set(key, { outcome, level, madeBy, n: 1 });
  }

  summary(): RunSummary {
    const kind = this.kind ?? "unknown";
    const { verdict, headline, counts } =
      this.kind === undefined
        ? { verdict: this.live ? ("running" as const) : ("incomplete" as const), headline: "no run has started in this run log", counts: {} }
        : kind === "certify"
          ? this.certify()
          : kind === "qualify-reader" || kind === "load"
            ? this.single(kind)
            : this.scenarios(kind);
    const bad = this.unreadable;
    // The run log has the events the publisher dropped, the dashboard does not: what it shows cannot vouch for a pass.
    const dropped = this.dropped > 0 ? `${this.dropped} ${this.dropped === 1 ? "event" : "events"} dropped by the publisher (the run log has them); ` : "";
    const gone = this.gone ? "the publisher went away before saying the run was done; " : "";
    const unreadable = bad ? `run log unreadable at line ${bad.line} (${bad.reason}); ` : "";
    return {
      id: this.id,
      kind,
      name: kind === "scenario" && this.started > 1 ? `${this.started} scenarios` : (this.name ?? this.id),
      ...(this.target !== undefined ? { target: this.target } : {}),
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
      durationMs: this.durationMs(kind),
      // A run log the dashboard cannot read to its end never reads as a pass or a fail: it is not all there.
      verdict: (bad && verdict !== "running") || (this.dropped > 0 && verdict === "pass") ? "incomplete" : verdict,
      headline: dropped + gone + unreadable + headline,
      counts,
      events: this.events,
      dropped: this.dropped,
      source: this.source,
      generation: this.generation,
      ...(this.origin ? { origin: this.origin } : {}),
    };
  }

  private durationMs(kind: string): number {
    return this.knownDurationMs(kind) ?? 0;
  }

  /** Scenario runs report the wall time they measured (run.finished); other drivers' events carry wall-clock times. Undefined: neither yet. */
  private knownDurationMs(kind: string): number | undefined {
    if (this.wallSeen) return Math.round(this.wallMs);
    if (kind === "scenario" || this.firstTime === undefined || this.lastTime === undefined) return undefined;
    const ms = Date.parse(this.lastTime) - Date.parse(this.firstTime);
    return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
  }

  private scenarios(kind: string): Verdict {
    const cur = this.current;
    const passedN = this.closedPassed + (cur && cur.outcome !== undefined && passed(cur) ? 1 : 0);
    const unfinished = this.closedUnfinished + (cur && cur.outcome === undefined ? 1 : 0);
    const total = this.started;
    const counts = { total, passed: passedN, failed: total - passedN - unfinished, unfinished, steps: this.steps, stepsFailed: this.stepsFailed };
    const noun = kind === "scenario" ? "scenarios" : "runs";
    // The reports' own words: the total line of `cardloop run` and `demo` (reports/text.ts; no run's own line), over the runs counted.
    const words = (runs: number) => scenarioSummaryText({ runs: [], totals: { runs, passed: passedN } }, this.durationMs(kind), "", noun).trim();
    // While a publisher is still sending, the scenario under way is not counted yet.
    if (this.live) return { verdict: "running", headline: `${words(total - unfinished)} so far`, counts };
    if (unfinished > 0) return { verdict: "incomplete", headline: `${words(total)}; ${unfinished} did not finish`, counts };
    return { verdict: passedN === total ? "pass" : "fail", headline: words(total), counts };
  }

  private certify(): Verdict {
    const rows: Array<{ outcome: Outcome; level: Level; madeBy: MadeBy; n: number }> = [...this.buckets.values()];
    if (!this.live) {
      // reports/certify-model.ts: a check that started and never finished is not judged; so is a run without run.finished.
      for (const level of this.openChecks.values()) rows.push({ outcome: "error", level, madeBy: undefined, n: 1 });
      if (!this.finishedAny) rows.push({ outcome: "error", level: "MUST", madeBy: undefined, n: 1 });
    }
    const byClass = Object.fromEntries(CLASS_ORDER.map((c) => [c, 0])) as Record<RowClass, number>;
    const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
    for (const r of rows) {
      byClass[classifyRow(r, this.rules)] += r.n;
      byOutcome[r.outcome] += r.n;
    }
    const checks = rows.reduce((n, r) => n + r.n, 0);
    const verdict = verdictOf(CLASS_ORDER.filter((c) => byClass[c] > 0));
    const ca = this.ca ?? "unknown";
    // What the reports' verdictText and countsText read: the verdict, its exit status and the totals.
    const report = {
      verdict,
      exitCode: VERDICT_EXIT[verdict],
      totals: {
        checks,
        ...byOutcome,
        defects: byClass.defect,
        warnings: byClass.warning,
        notJudged: byClass["not-judged"],
        notJudgedAllowed: byClass["not-judged-allowed"],
      },
    };
    const verdictLine = `${ca}: ${verdictText(report)}`;
    const countsLine = countsText(report);
    const counts = { checks, ...byClass };
    if (this.live) return { verdict: "running", headline: `${ca}: running; ${countsLine}`, counts };
    return { verdict, headline: `${verdictLine}; ${countsLine}`, counts };
  }

  /** qualify-reader: the report's rule over its criteria once run.finished is there; load: what run.finished said. */
  private single(kind: "qualify-reader" | "load"): Verdict {
    // As the qualification report: a criterion that started and never finished is an error (while the run goes on, it is under way).
    const c = { ...this.criteria, error: this.criteria.error + (this.live ? 0 : this.openChecks.size) };
    const judged = c.pass + c.fail + c.error + c.skip;
    const counts: Record<string, number> =
      kind === "load" ? { samples: this.samples, ...(this.throughput ? { throughput: this.throughput.value } : {}) } : { criteria: judged, ...c };
    const figures =
      kind === "load"
        ? this.throughput
          ? `last throughput ${Math.round(this.throughput.value).toLocaleString("en-US")} ${this.throughput.unit}`.trim()
          : `${this.samples} samples`
        : `${judged} criteria: ${c.pass} pass, ${c.fail} fail, ${c.error} error, ${c.skip} skipped`;
    const subject = kind === "load" ? `load ${this.target ?? ""}`.trim() : `reader ${this.target ?? "unknown"}`;
    const what = kind === "load" ? "load" : "qualification";
    if (this.live && this.lastOutcome === undefined) return { verdict: "running", headline: `${subject}: running; ${figures}`, counts };
    if (this.lastOutcome === undefined) return { verdict: "incomplete", headline: `${subject}: the run log ends before the ${what} finished; ${figures}`, counts };
    const verdict = kind === "load" ? (this.lastOutcome === "pass" ? "pass" : "fail") : qualificationOutcome(OUTCOMES.filter((o) => c[o] > 0).map((outcome) => ({ outcome })));
    return { verdict: this.live ? "running" : verdict, headline: `${subject}: ${what} ${verdict.toUpperCase()}; ${figures}`, counts };
  }
}

interface Verdict {
  verdict: RunSummary["verdict"];
  headline: string;
  counts: Record<string, number>;
}

function passed(s: ScenarioState): boolean {
  return s.outcome === "pass" && !s.stepFailed;
}

function outcomeOf(v: unknown): Outcome | undefined {
  return v === "pass" || v === "fail" || v === "error" || v === "skip" ? v : undefined;
}
