import type { IncomingMessage, ServerResponse } from "node:http";
import { CaError, type Caller, type IssuedCertificate, type IssueRequest } from "./api.js";
import { bearer, refuseWith, sendJson } from "./http-answers.js";
import { readJsonObject } from "./http-body.js";
import type { CaHttpBackend } from "./http.js";
import type { ClientGate, HttpLimits } from "./http-limits.js";

/**
 * Bulk issuance, `POST /api/v1/certificates/batch`, on a bare node handler in
 * front of express as the revocation routes are (http-revoke.ts): a load
 * test prepares 100,000 certificates through it, and one request per
 * certificate spent most of the CA's time in routing, answering and one
 * group-commit slot each. Same rules as single issuance: the issuing
 * station's (RA) token before a byte of the body is read; the body read by
 * readJson (media type 415, declared and streamed size 413, the global budget
 * 503, depth 400); answers through the same errorAnswer.
 *
 * Body: `{"requests": [item, ...]}`, 1 to ISSUE_BATCH_MAX items, each the
 * single endpoint's body (`{csr, profile, holder, cardExpiry?}`). Answer 200:
 * `{"issued": n, "refused": m, "results": [...]}`, one result per item in
 * order: the single endpoint's answer (serial, certificate, chain, notBefore,
 * notAfter, cancellationCodes for a new card) or that item's refusal
 * `{"status", "error", "message"}`. One item's refusal never fails the others;
 * the batch is one durable commit (Issuance.issueMany).
 */

/** Items per batch at most: a batch's work (checks, signatures, one commit) stays bounded. */
export const ISSUE_BATCH_MAX = 1000;

/** A batch's body at most: room for ISSUE_BATCH_MAX single bodies, and never more than a quarter of the global body budget. */
export function issueBatchBodyBytes(limits: HttpLimits): number {
  return Math.min(ISSUE_BATCH_MAX * limits.csrBodyBytes, Math.floor(limits.bodyBudgetBytes / 4));
}

/** What this route needs of the CA. */
export type IssueBackend = Pick<CaHttpBackend, "authenticate"> & {
  issueMany(reqs: IssueRequest[], caller?: Caller): Promise<Array<IssuedCertificate | CaError>>;
};

export interface IssueRoutes {
  /** Answers the request when it is the batch route (true), else leaves it untouched (false). */
  route(req: IncomingMessage, res: ServerResponse, caller: Caller): boolean;
  /** The handler itself, for express's route of the same path (URL shapes `route` leaves to express). */
  batch(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void>;
}

// Express's defaults: case-insensitive, an optional trailing slash, the query string ignored.
const BATCH = /^\/api\/v1\/certificates\/batch\/?(?:\?|$)/i;

export function issueRoutes(ca: IssueBackend, limits: HttpLimits, gate: ClientGate): IssueRoutes {
  const maxBytes = issueBatchBodyBytes(limits);

  const batch = async (req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> => {
    try {
      const token = bearer(req);
      ca.authenticate(token, "ra", "issue", caller);
      const list = (await readJsonObject(req, maxBytes, gate, limits.jsonDepth, true)).requests;
      if (!Array.isArray(list) || list.length === 0) throw new CaError(400, "bad-requests", "requests must be a non-empty array of issuance requests");
      if (list.length > ISSUE_BATCH_MAX) throw new CaError(400, "too-many-requests-in-batch", `at most ${ISSUE_BATCH_MAX} requests per batch (got ${list.length})`);
      const results = new Array<IssuedCertificate | CaError>(list.length);
      const asked: IssueRequest[] = [];
      const at: number[] = [];
      list.forEach((item: unknown, i) => {
        if (!item || typeof item !== "object" || Array.isArray(item)) results[i] = new CaError(400, "bad-request", "each request must be a JSON object");
        else {
          asked.push(issueRequestOf(item as Record<string, unknown>, token));
          at.push(i);
        }
      });
      if (asked.length > 0) {
        const answered = await ca.issueMany(asked, caller);
        answered.forEach((r, k) => (results[at[k]] = r));
      }
      sendJson(res, 200, resultsJson(results));
    } catch (err) {
      refuseWith(req, res, err);
    }
  };

  const route = (req: IncomingMessage, res: ServerResponse, caller: Caller): boolean => {
    if (req.method !== "POST" || !BATCH.test(req.url ?? "")) return false;
    // The handler answers every error itself; should answering fail too, the connection goes (never a crash).
    batch(req, res, caller).catch(() => res.destroy());
    return true;
  };
  return { route, batch };
}

/** An issuance body as both endpoints read it (the single one's, each batch item); the CA checks every field. */
export function issueRequestOf(b: Record<string, unknown>, raToken: string | undefined): IssueRequest {
  return {
    csrPem: b.csr as string,
    profile: b.profile as never,
    holder: b.holder as never,
    cardExpiry: b.cardExpiry === undefined ? undefined : (b.cardExpiry as never),
    raToken,
  };
}

/** An issued certificate as both endpoints answer it (codes only to the request that created the card). */
export function issuedJson(r: IssuedCertificate): Record<string, unknown> {
  return {
    serial: r.serial,
    certificate: r.certificatePem,
    chain: r.chainPem,
    notBefore: r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    ...(r.cancellationCodes ? { cancellationCodes: r.cancellationCodes } : {}),
  };
}

/** The batch's answer: counts, then one result per item in order, the certificate or that item's refusal. */
function resultsJson(results: ReadonlyArray<IssuedCertificate | CaError>): Record<string, unknown> {
  const issued = results.filter((r) => !(r instanceof CaError)).length;
  return {
    issued,
    refused: results.length - issued,
    results: results.map((r) => (r instanceof CaError ? { status: r.status, error: r.reason, message: r.message } : issuedJson(r))),
  };
}
