import { eventProblem, isRecord } from "../core/index.js";
import { LIMITS, PROTOCOL_VERSION, type Origin } from "./protocol.js";

/**
 * A publisher's batch as the store takes it: every field checked, every
 * event checked as a line of a run log is (core/runlog.ts's eventProblem,
 * what parseRunLogLine applies after JSON.parse), before anything is
 * written (a bad one is refused whole, with the reason the publisher logs).
 */

export class PublishError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "PublishError";
  }
}

export interface Batch {
  from: number;
  events: Array<Record<string, unknown>>;
  final: boolean;
  origin?: Origin;
}

/** The batch, or PublishError(400, reason naming the field or `events[i]`). */
export function checkBatch(v: unknown): Batch {
  const bad = (reason: string): never => {
    throw new PublishError(400, reason);
  };
  if (!isRecord(v)) return bad("the body is not a JSON object");
  if (v.v !== PROTOCOL_VERSION) bad(`v: expected ${PROTOCOL_VERSION}`);
  const from = v.from;
  if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0) return bad("from: expected a whole number >= 0");
  if (!Array.isArray(v.events)) return bad("events: expected an array");
  if (v.events.length > LIMITS.publishBatchEvents) bad(`events: more than ${LIMITS.publishBatchEvents} in one batch`);
  if (v.final !== undefined && typeof v.final !== "boolean") bad("final: expected true or false");
  if (v.origin !== undefined && !isRecord(v.origin)) bad("origin: expected an object");
  const o = isRecord(v.origin) ? v.origin : {};
  if ((o.host !== undefined && typeof o.host !== "string") || (o.runLog !== undefined && typeof o.runLog !== "string")) bad("origin: host and runLog are strings");
  const events = v.events as unknown[];
  for (let i = 0; i < events.length; i++) {
    // A published event is a line of a run log (the store writes it into one), and needs nothing more.
    const why = eventProblem(events[i]);
    if (why) bad(`events[${i}]: ${why}`);
  }
  const origin = originOf(o);
  return { from, events: events as Array<Record<string, unknown>>, final: v.final === true, ...(origin ? { origin } : {}) };
}

/** The host and runLog of an object (a batch's origin, a saved origin.json), the strings only; undefined when neither. */
export function originOf(o: unknown): Origin | undefined {
  const r = isRecord(o) ? o : {};
  const host = typeof r.host === "string" ? r.host : undefined;
  const runLog = typeof r.runLog === "string" ? r.runLog : undefined;
  return host === undefined && runLog === undefined ? undefined : { ...(host !== undefined ? { host } : {}), ...(runLog !== undefined ? { runLog } : {}) };
}
