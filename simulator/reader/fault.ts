import { SeededRandom, UsageError, type Random } from "../../core/index.js";
import { ReaderError } from "./memory.js";
import type { Reader } from "./reader.js";

/**
 * A reader wrapper that injects transport faults, to reproduce what flaky
 * readers and cards do in the field: a lost exchange, a garbled status word,
 * a slow answer, a card that vanishes mid-session. Faults fire at given
 * exchange numbers or with a probability drawn from a seeded Random, so a
 * failing run replays exactly with the same seed.
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
  | { kind: "remove" };

export interface FaultRule {
  fault: Fault;
  /** 0-based exchange numbers at which the fault fires. */
  at?: number[];
  /** Probability per exchange (0..1), drawn from the seeded Random. */
  rate?: number;
}

export interface InjectedFault {
  exchange: number;
  fault: Fault;
}

export class FaultyReader implements Reader {
  readonly name: string;
  /** Every fault injected so far, in order: the evidence for a report. */
  readonly injected: InjectedFault[] = [];
  private exchange = 0;
  private pulled = false;
  private readonly listeners = new Set<(present: boolean) => void>();

  constructor(
    private readonly inner: Reader,
    private readonly rules: FaultRule[],
    private readonly random: Random = new SeededRandom(0),
  ) {
    this.name = inner.name;
    for (const r of rules) {
      if (r.rate !== undefined && !(r.rate >= 0 && r.rate <= 1)) throw new RangeError(`fault rate must be 0..1, got ${r.rate}`);
    }
  }

  async connect(): Promise<Uint8Array> {
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    return this.inner.connect();
  }

  async reset(): Promise<Uint8Array> {
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    return this.inner.reset();
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
    const n = this.exchange++;
    if (this.pulled) throw new ReaderError(`${this.name}: no card present (removed by fault injection)`);
    const fault = this.pick(n);
    if (!fault) return this.inner.transmit(command);
    this.injected.push({ exchange: n, fault });
    switch (fault.kind) {
      case "drop":
        throw new ReaderError(`${this.name}: transmission failed (injected fault at exchange ${n})`);
      case "lose-answer":
        await this.inner.transmit(command);
        throw new ReaderError(`${this.name}: answer lost (injected fault at exchange ${n})`);
      case "sw":
        await this.inner.transmit(command);
        return Uint8Array.of(fault.sw >> 8, fault.sw & 0xff);
      case "delay": {
        const res = await this.inner.transmit(command);
        await new Promise((r) => setTimeout(r, fault.ms));
        return res;
      }
      case "remove":
        this.pulled = true;
        for (const l of [...this.listeners]) l(false);
        throw new ReaderError(`${this.name}: card removed (injected fault at exchange ${n})`);
    }
  }

  /** The first rule that fires for exchange `n` (every rate rule draws, so the stream does not depend on order of hits). */
  private pick(n: number): Fault | undefined {
    let hit: Fault | undefined;
    for (const r of this.rules) {
      const byIndex = r.at?.includes(n) ?? false;
      const byRate = r.rate !== undefined && r.rate > 0 && this.draw() < r.rate;
      if ((byIndex || byRate) && !hit) hit = r.fault;
    }
    return hit;
  }

  private draw(): number {
    const b = this.random.bytes(4);
    return (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) / 2 ** 32;
  }
}

/**
 * Parses a fault list as a command line would give it:
 * "drop@3,7" "sw=6F00@rate:0.01" "delay=50@2" "remove@10" "lose-answer@rate:0.1",
 * several separated by ";".
 */
export function parseFaults(text: string): FaultRule[] {
  return text
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(drop|lose-answer|remove|sw|delay)(?:=([0-9A-Fa-f]+))?@(.+)$/.exec(part);
      if (!m) throw new UsageError(`bad fault "${part}" (e.g. drop@3, sw=6F00@rate:0.01, delay=50@2, remove@10)`);
      const [, kind, arg, where] = m;
      let fault: Fault;
      if (kind === "sw") {
        if (!arg || !/^[0-9A-Fa-f]{4}$/.test(arg)) throw new UsageError(`fault "${part}": sw needs 4 hex digits`);
        fault = { kind, sw: parseInt(arg, 16) };
      } else if (kind === "delay") {
        if (!arg || !/^\d+$/.test(arg)) throw new UsageError(`fault "${part}": delay needs milliseconds`);
        fault = { kind, ms: Number(arg) };
      } else {
        if (arg) throw new UsageError(`fault "${part}": ${kind} takes no value`);
        fault = { kind } as Fault;
      }
      if (where.startsWith("rate:")) {
        const rate = Number(where.slice(5));
        if (!(rate >= 0 && rate <= 1)) throw new UsageError(`fault "${part}": rate must be 0..1`);
        return { fault, rate };
      }
      const at = where.split(",").map((x) => Number(x));
      if (at.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError(`fault "${part}": exchange numbers are integers >= 0`);
      return { fault, at };
    });
}
