import { isRecord, type AnyEvent } from "./browser-safe.js";

/**
 * The events the page holds for one run, in the dashboard's sequence
 * numbers (position 0, 1, 2, ... in the dashboard's copy of the run). The
 * one rule: never a gap, never a duplicate. An `events` message that starts
 * below what is held has its overlap skipped; one that starts above it is a
 * gap, which the caller mends by subscribing again from `held`.
 */
export type Applied =
  | { kind: "appended"; count: number }
  | { kind: "duplicate" }
  | { kind: "gap"; held: number };

export class RunEvents {
  private readonly list: AnyEvent[] = [];

  get held(): number {
    return this.list.length;
  }

  get events(): readonly AnyEvent[] {
    return this.list;
  }

  /**
   * Lets go of the events from `from` on (the dashboard said `resync`, or the
   * run's log was replaced); true when any were held. Below what is held
   * only: a `from` beyond it leaves the events be (the next message is then
   * a gap, mended as any other).
   */
  truncate(from: number): boolean {
    const keep = Number.isInteger(from) && from > 0 ? from : 0;
    if (keep >= this.list.length) return false;
    this.list.length = keep;
    return true;
  }

  apply(from: number, incoming: readonly unknown[]): Applied {
    const held = this.list.length;
    if (!Number.isInteger(from) || from < 0) return { kind: "duplicate" };
    if (from > held) return { kind: "gap", held };
    const fresh = incoming.slice(held - from);
    if (fresh.length === 0) return { kind: "duplicate" };
    for (const e of fresh) this.list.push(asEvent(e));
    return { kind: "appended", count: fresh.length };
  }
}

/**
 * An event as the reports' models can read it. A line of a run log that is
 * not an event still takes its position (the sequence numbers are positions),
 * as an event no model reads.
 */
export function asEvent(value: unknown): AnyEvent {
  const v = isRecord(value) ? value : {};
  const data = isRecord(v.data) ? v.data : { value: v.data ?? value };
  return {
    ...v,
    type: typeof v.type === "string" ? v.type : "invalid",
    seq: typeof v.seq === "number" ? v.seq : -1,
    time: typeof v.time === "string" ? v.time : "",
    data,
  } as unknown as AnyEvent;
}
