import type { Clock } from "./clock.js";
import { redactSecrets } from "./redact.js";

export type Outcome = "pass" | "fail" | "error" | "skip";

/**
 * Every event type and its payload. Other components add their own with
 * declaration merging:
 *   declare module "../core/events.js" { interface EventMap { "ca.revoked": {...} } }
 */
export interface EventMap {
  "run.started": { name: string; seed?: number | string; kind?: string; meta?: Record<string, unknown> };
  "run.finished": { outcome: Outcome; summary?: Record<string, unknown> };
  "step.started": { scenario: string; index: number; action: string; label?: string; line?: number };
  "step.finished": {
    scenario: string;
    index: number;
    action: string;
    label?: string;
    outcome: Outcome;
    expected?: unknown;
    actual?: unknown;
    message?: string;
    evidence?: Record<string, unknown>;
    durationMs?: number;
  };
  /** One command/response pair; secret-bearing command data already masked. */
  "apdu.exchange": { reader: string; command: string; response: string; sw: string; micros: number };
  "check.started": { id: string; title: string; level: "MUST" | "SHOULD"; source: string };
  "check.finished": {
    id: string;
    title: string;
    level: "MUST" | "SHOULD";
    source: string;
    /** For certify: pass (conforms), fail (does not conform), skip (does not apply), error (could not be judged). */
    outcome: Outcome;
    message?: string;
    evidence?: Record<string, unknown>;
    durationMs?: number;
    /** With outcome "error": why it could not be judged (credential, throttled, unreachable, adapter, refused-otherwise, harness). */
    cause?: string;
    /** With outcome "error": what would let it be judged. */
    fix?: string;
    /** "adapter": the verdict rests on something the adapter made, not the CA (a failure is a warning). */
    madeBy?: "ca" | "adapter";
    /** How each artefact the verdict rests on was obtained (the CA's command or endpoint, or the adapter's). */
    producedBy?: Array<{ artefact: string; by: "ca" | "adapter"; how: string; note?: string }>;
    /** The command that runs this check alone again. */
    reproduce?: string;
  };
  "metric.sample": { name: string; value: number; unit: string; labels?: Record<string, string> };
  "log.message": { level: "debug" | "info" | "warn" | "error"; message: string };
}

export type EventType = keyof EventMap;

export interface CardloopEvent<K extends EventType = EventType> {
  type: K;
  /** Position in the run, from 0: orders events that share a virtual time. */
  seq: number;
  /** The run's clock (virtual in simulated runs), ISO 8601. */
  time: string;
  data: EventMap[K];
  /**
   * Dotted paths in `data` whose values legitimately differ between two runs
   * with the same seed (key material, signatures, wall-clock latencies).
   */
  volatile?: string[];
}

export type AnyEvent = { [K in EventType]: CardloopEvent<K> }[EventType];

export type Listener = (event: AnyEvent) => void;

/** A synchronous typed bus: listeners see events in emission order. */
export class EventBus {
  private listeners: Listener[] = [];
  private seq = 0;
  constructor(private readonly clock: Clock) {}

  on(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  emit<K extends EventType>(type: K, data: EventMap[K], volatile?: string[]): void {
    if (this.listeners.length === 0) {
      this.seq++;
      return;
    }
    const event = {
      type,
      seq: this.seq++,
      time: this.clock.now().toISOString(),
      data: redactSecrets(data),
      ...(volatile && volatile.length > 0 ? { volatile } : {}),
    } as AnyEvent;
    for (const l of this.listeners) l(event);
  }
}

/** Removes the volatile fields of an event, so two runs with one seed compare equal. */
export function stripVolatile(event: AnyEvent): AnyEvent {
  if (!event.volatile) return event;
  const data = structuredClone(event.data) as Record<string, unknown>;
  for (const path of event.volatile) deletePath(data, path.split("."));
  const { volatile: _v, ...rest } = event;
  return { ...rest, data } as AnyEvent;
}

function deletePath(obj: Record<string, unknown>, parts: string[]): void {
  const [head, ...tail] = parts;
  if (head === undefined || obj === null || typeof obj !== "object") return;
  if (tail.length === 0) {
    delete obj[head];
    return;
  }
  deletePath(obj[head] as Record<string, unknown>, tail);
}
