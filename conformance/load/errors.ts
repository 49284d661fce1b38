import type { ErrorClass } from "./types.js";

/*
 * What went wrong with one load request, as the summary counts it (the
 * classes are documented on ErrorClass in types.ts). Only the status, the
 * CA's reason word and the transport's error code are kept: a message may
 * quote a request, and requests carry credentials.
 */

/** A request that got no answer within the plan's timeoutMs (the revoke phase's own timer). */
export class LoadTimeoutError extends Error {
  readonly code = "LOAD_TIMEOUT";
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "LoadTimeoutError";
  }
}

/**
 * `call`, or a LoadTimeoutError past `ms` (the timer is cleared either way). A late rejection of `call` is
 * no unhandled one. Completeness's per-request timeout; the revoke phase, with thousands of requests a
 * second in flight, uses Deadlines below (the same timeout, one timer for all).
 */
export async function withTimeout<T>(call: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  call.catch(() => undefined);
  try {
    return await Promise.race([call, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new LoadTimeoutError(ms)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** One request under a Deadlines: its deadline, and how to fail it (dropped once it settled). */
interface Pending {
  deadline: number;
  reject: ((err: Error) => void) | undefined;
}

/**
 * The same per-request timeout as withTimeout for many requests that share
 * one `ms` (the revoke phase's), with one timer for all of them instead of a
 * timer, a race and two promises each: at thousands of requests a second,
 * that is CPU taken from the CA on the same machine (issue 13). Requests'
 * deadlines come in the order they start (now + the same ms), so a FIFO holds
 * them sorted: the timer fires at the first unsettled one's deadline, at the
 * latest every SWEEP_MS to drop the settled ones from the queue.
 */
export class Deadlines {
  private readonly queue: Pending[] = [];
  /** The first entry of `queue` not yet dropped (dropping from the front of an array one by one would copy it each time). */
  private head = 0;
  /** Armed while requests are queued; arm() is only ever called when it is not (from race(), and from sweep() after it fired). */
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError(`a timeout must be > 0 ms, got ${ms}`);
  }

  /** `call`, or a LoadTimeoutError `ms` from now when it has not settled by then. A late rejection of `call` is no unhandled one. */
  race<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { deadline: performance.now() + this.ms, reject };
      this.queue.push(p);
      call.then(
        (value) => {
          if (p.reject === undefined) return; // timed out already
          p.reject = undefined;
          resolve(value);
        },
        (err: unknown) => {
          if (p.reject === undefined) return;
          p.reject = undefined;
          reject(err);
        },
      );
      if (this.timer === undefined) this.arm(p.deadline);
    });
  }

  /** Requests neither settled nor timed out, plus settled ones not yet dropped (for tests: the queue stays bounded). */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Stops the timer; requests still pending then never time out. For the end of a phase, when nothing is in flight. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(deadline: number): void {
    const wait = Math.min(deadline - performance.now(), SWEEP_MS);
    this.timer = setTimeout(() => this.sweep(), Math.max(0, wait));
  }

  private sweep(): void {
    this.timer = undefined;
    const now = performance.now();
    const q = this.queue;
    let h = this.head;
    while (h < q.length) {
      const p = q[h];
      if (p.reject !== undefined) {
        if (p.deadline > now) break;
        const reject = p.reject;
        p.reject = undefined;
        reject(new LoadTimeoutError(this.ms));
      }
      h++;
    }
    if (h === q.length) {
      q.length = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > q.length) {
      q.splice(0, h);
      h = 0;
    }
    this.head = h;
    if (h < q.length) this.arm(q[h].deadline);
  }
}

/** At the latest this often (ms) a Deadlines drops its settled requests, however long the timeout. */
const SWEEP_MS = 1000;

/** Transport codes (Node's and undici's) by class. */
const TIMEOUT_CODES = new Set(["LOAD_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT", "ESOCKETTIMEDOUT"]);
/** The connection broke or was closed under the request (the CA died or dropped it). */
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "ERR_STREAM_PREMATURE_CLOSE", "HPE_INVALID_CONSTANT", "UND_ERR_RESPONSE_STATUS_CODE_EOF"]);
/** Nothing listens (or nothing can be reached) where the CA should be. */
const REFUSED_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** A reason word the CA gave, kept to a bounded token (it goes into reports and metric labels). */
function reasonWord(reason: unknown): string {
  if (typeof reason !== "string") return "error";
  const w = reason.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return w || "error";
}

/** The status answer of a CA refusal (CaError, or anything shaped like one from a user's adapter). */
function statusClass(err: { status?: unknown; reason?: unknown }): ErrorClass | undefined {
  const s = err.status;
  if (typeof s !== "number" || !Number.isInteger(s)) return undefined;
  if (s >= 400 && s < 500) return `4xx ${s} ${reasonWord(err.reason)}`;
  if (s >= 500 && s < 600) return `5xx ${s}`;
  return undefined;
}

function codeClass(code: unknown, name: unknown): ErrorClass | undefined {
  if (name === "TimeoutError") return "timeout";
  if (typeof code !== "string") return undefined;
  if (TIMEOUT_CODES.has(code)) return "timeout";
  if (RESET_CODES.has(code)) return "reset";
  if (REFUSED_CODES.has(code)) return "refused";
  return undefined;
}

/**
 * The class of one failed request. Looks through `cause` chains and
 * AggregateErrors (a connect over several addresses fails as one), a few
 * levels deep, so an adapter that wraps a transport error keeps its class.
 */
export function classifyError(err: unknown): ErrorClass {
  return classify(err, 0) ?? "other";
}

function classify(err: unknown, depth: number): ErrorClass | undefined {
  if (err === null || typeof err !== "object" || depth > 5) return undefined;
  const e = err as { status?: unknown; reason?: unknown; code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  const found = statusClass(e) ?? codeClass(e.code, e.name);
  if (found) return found;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const c = classify(inner, depth + 1);
      if (c) return c;
    }
  }
  return classify(e.cause, depth + 1);
}
