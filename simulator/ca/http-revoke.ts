import type { IncomingMessage, ServerResponse } from "node:http";
import type { Caller } from "./api.js";
import { bearer, refuseWith, sendJson } from "./http-answers.js";
import { readJsonObject } from "./http-body.js";
import type { CaHttpBackend } from "./http.js";
import type { ClientGate, HttpLimits } from "./http-limits.js";

/**
 * The revocation routes on a bare node handler in front of express, as OCSP
 * is (http-ocsp.ts): single revocations (`POST /api/v1/certificates/:serial/revoke`)
 * and bulk batches (`POST /api/v1/revocations`) are the load test's hot path,
 * and express's routing, request and response decoration cost about half of
 * a revocation's CPU. The rules are express's, unchanged: the caller's slot
 * was taken by the server's handler (per-client requests and connections);
 * the operator's credential before the bulk body is read; the body read by
 * readJson (media type 415, declared and streamed size 413 and close, the
 * global budget 503, depth 400) and answered through the same errorAnswer.
 *
 * Only a path written as express would match it plainly is taken here; any
 * other shape (an absolute-form URL, a serial that does not URL-decode) is
 * left to express, whose routes call the same handlers.
 */

/** What these routes need of the CA. */
export type RevokeBackend = Pick<CaHttpBackend, "revoke" | "revokeMany" | "authenticate">;

export interface RevokeRoutes {
  /** Answers the request when it is one of the routes (true), else leaves it untouched (false). */
  route(req: IncomingMessage, res: ServerResponse, caller: Caller): boolean;
  /** The handlers themselves, for express's routes of the same paths (URL shapes `route` leaves to express). */
  single(serial: string, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void>;
  bulk(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void>;
}

// Express's defaults: case-insensitive, an optional trailing slash, the query string ignored.
const SINGLE = /^\/api\/v1\/certificates\/([^/?#]+)\/revoke\/?(?:\?|$)/i;
const BULK = /^\/api\/v1\/revocations\/?(?:\?|$)/i;

export function revokeRoutes(ca: RevokeBackend, limits: HttpLimits, gate: ClientGate): RevokeRoutes {
  /** The body as a JSON object, as express's routes read it (http.ts `json`). */
  const object = (req: IncomingMessage, max: number, authenticated: boolean) => readJsonObject(req, max, gate, limits.jsonDepth, authenticated);

  // Holders and representatives with their codes; an operator with the token (bearer) and the registration answers.
  const single = async (serial: string, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> => {
    try {
      const b = await object(req, limits.smallBodyBytes, false);
      const r = await ca.revoke(
        {
          serial,
          reason: b.reason as never,
          role: b.role as never,
          code: b.code as string | undefined,
          email: b.email as string | undefined,
          name: b.name as string | undefined,
          answers: b.answers as Record<string, string> | undefined,
          operatorToken: bearer(req),
        },
        caller,
      );
      sendJson(res, 200, { serial: r.serial, status: r.status, reason: r.reason, revokedAt: r.revokedAt.toISOString() });
    } catch (err) {
      refuseWith(req, res, err);
    }
  };

  // The operator's token is checked (and a refusal audited) before a byte of the body is read.
  const bulk = async (req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> => {
    try {
      const token = bearer(req);
      ca.authenticate(token, "operator", "bulk-revoke", caller);
      const b = await object(req, limits.bulkBodyBytes, true);
      const r = await ca.revokeMany(b.serials as string[], b.reason as never, token!, caller);
      sendJson(res, 200, { revoked: r.revoked, revokedAt: r.revokedAt.toISOString(), unknown: r.unknown, alreadyRevoked: r.alreadyRevoked });
    } catch (err) {
      refuseWith(req, res, err);
    }
  };

  const route = (req: IncomingMessage, res: ServerResponse, caller: Caller): boolean => {
    if (req.method !== "POST") return false;
    const url = req.url ?? "";
    // The handlers answer every error themselves; should answering fail too, the connection goes (never a crash).
    if (BULK.test(url)) {
      bulk(req, res, caller).catch(() => res.destroy());
      return true;
    }
    const m = SINGLE.exec(url);
    if (!m) return false;
    let serial: string;
    try {
      serial = decodeURIComponent(m[1]);
    } catch {
      return false; // express answers an undecodable parameter itself
    }
    single(serial, req, res, caller).catch(() => res.destroy());
    return true;
  };
  return { route, single, bulk };
}
