import type { IncomingMessage, ServerResponse } from "node:http";
import { CaError } from "./api.js";
import { bodyPending } from "./http-body.js";
import { STORAGE_RETRY_AFTER_S, storageFault } from "./storage-fault.js";

/**
 * The CA's HTTP answers, shared by express (http.ts) and the bare hot-path
 * handlers in front of it (http-revoke.ts), so that both answer a request
 * byte for byte alike: JSON written straight to node's response, errors as
 * {error, message} with the same statuses and Retry-After.
 */

/** The bearer token of the request, if it carries one (RFC 6750 2.1; the scheme is case-insensitive). */
export function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? "");
  return m ? m[1] : undefined;
}

/** An error answer: {error, message}; the connection closes if a body is left unread. */
export function refuse(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, error: string, message: string): void {
  if (res.headersSent || req.socket.destroyed) return;
  const body = JSON.stringify({ error, message });
  if (bodyPending(req)) res.shouldKeepAlive = false;
  res.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** `err` answered as `errorAnswer` says. */
export function refuseWith(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const a = errorAnswer(err);
  refuse(req, res, a.status, a.headers, a.error, a.message);
}

/** What an error becomes on the wire: a CaError as itself, a storage fault 503 (never 500), a parser's 4xx as 400. */
export function errorAnswer(err: unknown): { status: number; error: string; message: string; headers: Record<string, string> } {
  if (err instanceof CaError) {
    const headers: Record<string, string> = {};
    if (err.status === 401) headers["www-authenticate"] = err.reason === "bad-credential" ? 'Bearer realm="cardloop-ca", error="invalid_token"' : 'Bearer realm="cardloop-ca"';
    if (err.status === 429) headers["retry-after"] = String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)));
    if (err.status === 503) headers["retry-after"] = String(err.reason === "storage-unavailable" ? STORAGE_RETRY_AFTER_S : 1);
    return { status: err.status, error: err.reason, message: err.message, headers };
  }
  const fault = storageFault(err);
  if (fault) {
    return {
      status: 503,
      error: "storage-unavailable",
      message: `the CA's store cannot be written just now (${fault.reason}); nothing was changed, try again later`,
      headers: { "retry-after": String(STORAGE_RETRY_AFTER_S) },
    };
  }
  const e = err as { status?: unknown; message?: unknown } | null;
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
    return { status: e.status, error: "bad-request", message: typeof e.message === "string" ? e.message : "bad request", headers: {} };
  }
  return { status: 500, error: "internal", message: "internal error", headers: {} };
}

/**
 * A JSON answer written straight to node's response: the hot paths skip express's send (an ETag hash over every
 * body, freshness checks), which cost a quarter of a request's CPU under load. `body`: the JSON text already made.
 */
export function sendJsonText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendJsonText(res, status, JSON.stringify(value));
}
