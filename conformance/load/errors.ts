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
 * no unhandled one. The one per-request timeout of the revoke phase and of completeness.
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
