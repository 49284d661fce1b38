import { SeededRandom, UsageError, insName, toHex, type EventBus, type Random } from "../../core/index.js";
import type { Tearable, TearOutcome } from "../card/index.js";
import "./events.js";
import { ReaderError } from "./memory.js";
import type { Reader } from "./reader.js";

/**
 * A reader wrapper that injects transport faults, to reproduce what flaky
 * readers and cards do in the field: a lost exchange, a garbled status word,
 * a slow answer, a card that vanishes mid-session, a card that loses power
 * in the middle of a write. Faults fire at given exchange numbers or with a
 * probability drawn from a seeded Random, so a failing run replays exactly
 * with the same seed. FaultPlan decides; FaultyReader (host side) and a
 * card-side server apply the same plan.
 */
export type Fault =
  /** The exchange fails with a transport error (the command may not have reached the card). */
  | { kind: "drop" }
  /** The command reaches the card, but the answer is lost: a transport error. */
  | { kind: "lose-answer" }
  /** The card's answer is replaced by this status word. */
  | { kind: "sw"; sw: number }
  /** The answer arrives after this many milliseconds. */
  | { kind: "delay"; ms: number }
  /** The card is pulled out before the command: presence false, then the exchange fails. */
  | { kind: "remove" }
  /**
   * The card loses power during the command's `write`-th write (0, the first, by default): see
   * simulator/card/tearing.ts. Only an exchange that completes a command counts for it (not the
   * parts of a chained command before its last: the card writes nothing until then).
   */
  | { kind: "tearing"; write?: number };

export type FaultKind = Fault["kind"];
export const FAULT_KINDS: readonly FaultKind[] = ["drop", "lose-answer", "sw", "delay", "remove", "tearing"];

export interface FaultRule {
  fault: Fault;
  /**
   * 0-based exchange numbers at which the fault fires. With `ins`, the
   * numbers count only the exchanges of those instructions (`at: [0]` with
   * `ins: [PUT DATA]` is the first PUT DATA), each rule counting its own.
   */
  at?: number[];
  /** Probability per exchange (0..1; with `ins`, per matching exchange), drawn from the seeded Random. */
  rate?: number;
  /** Only exchanges whose instruction byte (INS) is one of these. */
  ins?: number[];
}

export interface InjectedFault {
  /** The exchange's number among all the reader's exchanges, from 0. */
  exchange: number;
  fault: Fault;
  /** The command's instruction byte (-1 when the command is shorter than a header). */
  ins: number;
  /** For tearing: what the card's memory kept. */
  tear?: TearOutcome;
}

/** An instruction's name (core's one table), or its hex byte when it has none there. */
export function instructionName(ins: number): string {
  return ins < 0 ? "a short command" : insName(ins);
}

/**
 * Which exchange gets which fault: the decision alone, shared by FaultyReader
 * and a card-side server. Call `next` once per exchange, in order.
 */
export class FaultPlan {
  /** Every fault decided so far, in order: the evidence for a report. */
  readonly injected: InjectedFault[] = [];
  private exchange = 0;
  /** Per rule: how many exchanges it has matched (its `at` numbers count these). */
  private readonly matched: number[];

  constructor(
    private readonly rules: readonly FaultRule[],
    private readonly random: Random = new SeededRandom(0),
  ) {
    for (const r of rules) {
      if (r.rate !== undefined && !(r.rate >= 0 && r.rate <= 1)) throw new RangeError(`fault rate must be 0..1, got ${r.rate}`);
      for (const i of r.ins ?? []) if (!Number.isInteger(i) || i < 0 || i > 0xff) throw new RangeError(`instruction must be a byte, got ${i}`);
    }
    this.matched = rules.map(() => 0);
  }

  /** Whether some rule tears: only an emulated card can. */
  get tears(): boolean {
    return this.rules.some((r) => r.fault.kind === "tearing");
  }

  /** How many exchanges the plan has seen. */
  get exchanges(): number {
    return this.exchange;
  }

  /**
   * The fault for this exchange, if any: the first rule that fires. Every
   * matching rate rule draws, hit or not, so the stream of draws does not
   * depend on which rules fired before.
   */
  next(command: Uint8Array): { exchange: number; fault: Fault } | undefined {
    const n = this.exchange++;
    const ins = command.length >= 2 ? command[1] : -1;
    let hit: Fault | undefined;
    // A chained command's parts but the last write nothing on the card: a tear strikes where the command completes.
    const chainPart = command.length >= 1 && (command[0] & 0x10) !== 0;
    for (const [i, r] of this.rules.entries()) {
      if (r.ins !== undefined && !r.ins.includes(ins)) continue;
      if (chainPart && r.fault.kind === "tearing") continue;
      const k = this.matched[i]++;
      const byIndex = r.at?.includes(k) ?? false;
      const byRate = r.rate !== undefined && r.rate > 0 && this.draw() < r.rate;
      if ((byIndex || byRate) && !hit) hit = r.fault;
    }
    if (!hit) return undefined;
    this.injected.push({ exchange: n, fault: hit, ins });
    return { exchange: n, fault: hit };
  }

  private draw(): number {
    const b = this.random.bytes(4);
    return (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) / 2 ** 32;
  }
}

export interface FaultyReaderOptions {
  /** When given, each injected fault becomes an `apdu.fault` event. */
  bus?: EventBus;
  /** The emulated card, for `tearing`: without it a plan that tears is a UsageError. */
  tear?: Tearable;
  /**
   * How long the host waits for an answer, in ms: a `delay` longer than this
   * fails the exchange (the card acted, its answer came after the host gave
   * up), as a reader's waiting time does. None: the host waits for ever.
   */
  timeoutMs?: number;
}

export class FaultyReader implements Reader {
  readonly name: string;
  readonly plan: FaultPlan;
  private pulled = false;
  /** Set by a tear: the card has no power until the host connects again. */
  private unpowered = false;
  private readonly listeners = new Set<(present: boolean) => void>();
  private readonly bus?: EventBus;
  private readonly tear?: Tearable;
  private readonly timeoutMs?: number;

  constructor(
    private readonly inner: Reader,
    rules: FaultRule[] | FaultPlan,
    random: Random = new SeededRandom(0),
    opts: FaultyReaderOptions = {},
  ) {
    this.name = inner.name;
    this.plan = rules instanceof FaultPlan ? rules : new FaultPlan(rules, random);
    this.bus = opts.bus;
    this.tear = opts.tear;
    this.timeoutMs = opts.timeoutMs;
    if (this.plan.tears && this.tear === undefined) throw new UsageError("tearing needs an emulated card (the card file or a scenario's card), not a real reader");
  }

  /** Every fault injected so far, in order: the evidence for a report. */
  get injected(): InjectedFault[] {
    return this.plan.injected;
  }

  async connect(): Promise<Uint8Array> {
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    const atr = await this.inner.connect();
    this.unpowered = false;
    return atr;
  }

  async reset(): Promise<Uint8Array> {
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    const atr = await this.inner.reset();
    this.unpowered = false;
    return atr;
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }

  /** Puts back a card that a "remove" fault pulled out. */
  reinsert(): void {
    if (!this.pulled) return;
    this.pulled = false;
    for (const l of [...this.listeners]) l(true);
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.listeners.add(listener);
    const off = this.inner.onPresence(listener);
    return () => {
      this.listeners.delete(listener);
      off();
    };
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    // Exchanges that cannot reach the card are not the plan's: a card-side plan never sees them either.
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    if (this.unpowered) throw new ReaderError(`${this.name}: the card is unpowered after losing power (tearing): connect again`);
    const decided = this.plan.next(command);
    if (!decided) return this.inner.transmit(command);
    const { exchange: n, fault } = decided;
    const ins = command.length >= 2 ? command[1] : -1;
    const what = instructionName(ins);
    switch (fault.kind) {
      case "drop":
        this.evidence(n, fault, ins, `${what}: transmission failed`);
        throw new ReaderError(`${this.name}: transmission failed (injected fault "drop" at exchange ${n}, ${what})`);
      case "lose-answer":
        await this.inner.transmit(command);
        this.evidence(n, fault, ins, `${what}: the card answered, the answer was lost`);
        throw new ReaderError(`${this.name}: answer lost (injected fault "lose-answer" at exchange ${n}, ${what})`);
      case "sw": {
        await this.inner.transmit(command);
        const sw = toHex(Uint8Array.of(fault.sw >> 8, fault.sw & 0xff)).toUpperCase();
        this.evidence(n, fault, ins, `${what}: the answer replaced by status word ${sw}`);
        return Uint8Array.of(fault.sw >> 8, fault.sw & 0xff);
      }
      case "delay": {
        const res = await this.inner.transmit(command);
        const limit = this.timeoutMs;
        if (limit !== undefined && fault.ms > limit) {
          // decided from the two figures, not from a clock: the same run every time
          this.evidence(n, fault, ins, `${what}: answer delayed ${fault.ms} ms, past the host's ${limit} ms timeout: lost`);
          await new Promise((r) => setTimeout(r, limit));
          throw new ReaderError(`${this.name}: no answer within ${limit} ms (injected fault "delay" of ${fault.ms} ms at exchange ${n}, ${what})`);
        }
        this.evidence(n, fault, ins, `${what}: answer delayed ${fault.ms} ms`);
        await new Promise((r) => setTimeout(r, fault.ms));
        return res;
      }
      case "remove":
        this.pulled = true;
        this.evidence(n, fault, ins, `${what}: card removed before the command`);
        for (const l of [...this.listeners]) l(false);
        throw new ReaderError(`${this.name}: card removed (injected fault "remove" at exchange ${n}, ${what})`);
      case "tearing": {
        const outcome = this.tear!.tearDuring(command, { write: fault.write ?? 0 });
        this.unpowered = true;
        const last = this.plan.injected[this.plan.injected.length - 1];
        if (last?.exchange === n) last.tear = outcome;
        const kept = !outcome.wrote ? "it wrote nothing" : `memory kept the ${outcome.persisted} state${outcome.fields?.length ? ` (${outcome.fields.join(", ")} changed)` : ""}`;
        this.evidence(n, fault, ins, `${what}: card lost power during the command; ${kept}`);
        throw new ReaderError(`${this.name}: card lost power during ${what} (injected fault "tearing" at exchange ${n}; ${kept})`);
      }
    }
  }

  private evidence(exchange: number, fault: Fault, ins: number, detail: string): void {
    this.bus?.emit("apdu.fault", { reader: this.name, exchange, kind: fault.kind, ins: ins < 0 ? "" : toHex(Uint8Array.of(ins)).toUpperCase(), detail });
  }
}
