import type { IncomingMessage } from "node:http";
import { nestsDeeperThan } from "../../core/index.js";
import { CaError } from "./api.js";
import type { ClientGate } from "./http-limits.js";

/**
 * Request bodies of the CA's JSON API, read with limits checked before the
 * work they protect: the media type and the declared size before a byte is
 * read, the size again while streaming (chunked bodies declare none), the
 * global memory budget per chunk, the nesting depth by a linear scan before
 * JSON.parse (which recurses: 10^7 levels stalled the CA for 2.6 s).
 *
 * A refusal here leaves the rest of the body unread; the error handler then
 * closes the connection (see `bodyPending`), so an unread body is never
 * drained into memory or parsed as the next request.
 */

/** Whether the request carries a body (a Content-Length above 0, or chunked). */
function declaresBody(req: IncomingMessage): boolean {
  const te = req.headers["transfer-encoding"];
  if (te !== undefined) return true;
  const cl = req.headers["content-length"];
  return cl !== undefined && cl !== "0";
}

/** Whether a body was announced and not (wholly) read: answering now must close the connection. */
export function bodyPending(req: IncomingMessage): boolean {
  return declaresBody(req) && !req.complete;
}

/** JSON only (415 otherwise): application/json or application/<x>+json, in UTF-8 if a charset is named. */
function checkJsonMediaType(req: IncomingMessage): void {
  const [type, ...params] = (req.headers["content-type"] ?? "").toLowerCase().split(";");
  const t = type.trim();
  const json = t === "application/json" || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(t);
  const charset = params.map((p) => p.trim()).find((p) => p.startsWith("charset="));
  const utf8 = !charset || /^charset="?utf-?8"?$/.test(charset);
  if (!json || !utf8) throw new CaError(415, "unsupported-media-type", "the body must be JSON (Content-Type: application/json) in UTF-8");
}

const tooLarge = (max: number) => new CaError(413, "too-large", `the body is larger than this endpoint takes (${max} bytes)`);
const busy = () => new CaError(503, "busy", "the CA is receiving too much at once; try again shortly");

/**
 * The body as UTF-8 text, at most `max` bytes, counted against the gate's
 * global budget while it is held. `{}` for a request without a body.
 *
 * `reserveDeclared`: take the whole declared size from the budget before a byte
 * is read (admission control: of many large bodies at once, those admitted
 * all complete). Only for callers whose credential was checked first: an
 * anonymous client that declares a size and then sends nothing would hold the
 * budget for nothing, so anonymous bodies take it as their bytes arrive.
 */
export async function readJson(req: IncomingMessage, max: number, gate: ClientGate, maxDepth: number, reserveDeclared = false): Promise<unknown> {
  if (!declaresBody(req)) return {};
  checkJsonMediaType(req);
  const declared = req.headers["content-length"];
  // Node's parser has checked it is one decimal number (a malformed one is a 400 before any handler runs).
  const size = declared === undefined ? undefined : Number(declared);
  if (size !== undefined && size > max) throw tooLarge(max);
  const upfront = reserveDeclared && size !== undefined;
  let reserved = 0;
  if (upfront) {
    if (!gate.reserve(size)) throw busy();
    reserved = size;
  }
  try {
    const raw = await collect(req, max, (n) => {
      if (upfront) return true;
      if (!gate.reserve(n)) return false;
      reserved += n;
      return true;
    });
    if (raw.length === 0) return {};
    const text = raw.toString("utf8");
    if (nestsDeeperThan(text, maxDepth)) throw new CaError(400, "too-deep", `the JSON nests deeper than ${maxDepth} levels`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CaError(400, "bad-json", "the body is not valid JSON");
    }
  } finally {
    gate.unreserve(reserved);
  }
}

/** Reads the body, stopping (without reading on) at `max` bytes or when `admit` refuses a chunk. */
function collect(req: IncomingMessage, max: number, admit: (n: number) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: Error) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      req.pause();
      reject(err);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return stop(tooLarge(max));
      if (!admit(c.length)) return stop(busy());
      chunks.push(c);
    };
    const onEnd = () => {
      req.off("close", onClose);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    // The client went away (or the request timeout cut it off) before the end.
    const onClose = () => stop(new CaError(400, "incomplete", "the body ended before its announced end"));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
    req.once("error", () => undefined); // reported through "close"
  });
}

/** readJson's body as a JSON object: 400 bad-request for any other JSON value. */
export async function readJsonObject(req: IncomingMessage, max: number, gate: ClientGate, maxDepth: number, reserveDeclared = false): Promise<Record<string, unknown>> {
  const b = await readJson(req, max, gate, maxDepth, reserveDeclared);
  if (!b || typeof b !== "object" || Array.isArray(b)) throw new CaError(400, "bad-request", "the body must be a JSON object");
  return b as Record<string, unknown>;
}
