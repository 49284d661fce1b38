import { OcspTransportError } from "../adapters/loopback-http.js";
import { judgeThrown } from "../judgement.js";
import { normSerial, singleFor, type CrlInfo, type OcspInfo } from "../pkix.js";
import { CaError, type RevocationReason, type RevocationResult } from "../../simulator/ca/index.js";
import type { Fixtures, Issued } from "./fixtures.js";
import { NotJudged, Precondition, type NotJudgedCause } from "./types.js";

/**
 * Watching revocations reach the CRL and OCSP, for the propagation checks
 * and the fixtures that need a revoked certificate seen published.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A look that told nothing about the revocation for a reason that is not the
 * CA's defect: a credential certify lacks (401), throttling (429, OCSP
 * tryLater), an endpoint it could not reach, a refusal for another reason.
 */
export interface Unjudged {
  /** How many looks told nothing so. */
  polls: number;
  why: NotJudgedCause;
  /** The last of them. */
  message: string;
  fix: string;
}

export interface Observation<T> {
  /** ms from the revocation's acknowledgement until it was first seen; undefined: not within the horizon. */
  delayMs?: number;
  /** How long before `delayMs` the previous look that told something found nothing (or the acknowledgement): the figure's resolution. */
  resolutionMs?: number;
  polls: number;
  /** Fetches that gave something to judge: a CRL signed by the issuing CA, a successful OCSP answer for this CertID. */
  answered: number;
  /** Fetches the CA answered with a defect another check fails on (a CRL another key signed, no answer for this CertID, an HTTP error). */
  faults: number;
  /** The check that fails on those defects (CRL-SIGNATURE, OCSP-POST, OCSP-GOOD). */
  faultSee?: string;
  /** Looks that told nothing for certify's own reasons: they neither show nor hide the revocation. */
  unjudged?: Unjudged;
  /** Whether the last look was one of those: then "not seen" is not the CA's last word. */
  lastUnjudged?: boolean;
  /** ms from the acknowledgement to the last look at which the CA's answer did not show the revocation. */
  missedAtMs?: number;
  seen?: T;
  /** The last thing judged (a CRL, an OCSP response). */
  last?: T;
  /** Why the last fetch gave nothing to judge: an error, a CRL another key signed, an unsuccessful OCSP status. */
  lastError?: string;
}

/** One revocation, watched on the CRL and over OCSP. */
export interface Sample {
  cert: Issued;
  /** The reason asked for (the holder's usual one the policy allows: keyCompromise by default). */
  reason: RevocationReason;
  revocation: RevocationResult;
  /** certify's clock when it sent the revocation request the CA acknowledged: the revocation happened after. */
  requestedAtMs: number;
  /** certify's clock when the CA acknowledged the revocation: where every delay starts. */
  acknowledgedAtMs: number;
  crl: Observation<CrlInfo>;
  ocsp: Observation<OcspInfo>;
}

/** The first revocation watched (CRL-*, OCSP-REVOKED, REV-DUPLICATE), and the first propagation sample. */
export type Watch = Sample;

/** The revocations the propagation checks judge, and how they were watched. */
export interface Propagation {
  samples: Sample[];
  pollIntervalMs: number;
  horizonMs: number;
  /** At least this long between two revocations of the batch (after the first sample). */
  spacingMs: number;
}

/**
 * Revokes `certs` at least `spacingMs` apart and polls until each shows on
 * the CRL and over OCSP (as `what` asks) or passes the horizon. Polls are
 * counted, not only timed: a virtual clock must not make this loop forever,
 * and the spacing is counted in polls for the same reason.
 */
export async function revokeAndObserve(fx: Fixtures, certs: Issued[], what: { crl: boolean; ocsp: boolean }, spacingMs: number): Promise<Sample[]> {
  const caps = fx.ca.capabilities();
  const issuerPem = await fx.issuerPem();
  const reason = fx.watchReason();
  const poll = fx.options.pollIntervalMs;
  const horizon = fx.horizonMs();
  const pollsApart = Math.max(1, Math.ceil(spacingMs / poll));
  const pollsPerHorizon = Math.ceil(horizon / poll) + 1;
  const samples: Sample[] = [];
  const crlPending = new Set<Sample>();
  const ocspPending = new Set<Sample>();
  const lookedAt = new Map<Observation<unknown>, number>();
  let sinceRevocation = pollsApart;
  const maxPolls = pollsApart * certs.length + pollsPerHorizon + 1;
  for (let i = 0; i < maxPolls; i++) {
    if (samples.length < certs.length && sinceRevocation >= pollsApart) {
      const cert = certs[samples.length];
      const { revocation, requestedAtMs } = await fx.revokeToWatch(cert, reason);
      const s: Sample = { cert, reason, revocation, requestedAtMs, acknowledgedAtMs: fx.clock.nowMs(), crl: observation(), ocsp: observation() };
      samples.push(s);
      if (what.crl && caps.crl) crlPending.add(s);
      if (what.ocsp && caps.ocsp) ocspPending.add(s);
      sinceRevocation = 0;
    }
    sinceRevocation++;
    // the CRL and the responder side by side, so that one's latency is not in the other's figures
    await Promise.all([
      crlPending.size ? lookAtCrl(fx, crlPending, lookedAt) : undefined,
      (async () => {
        for (const s of [...ocspPending]) await lookAtOcsp(fx, s, ocspPending, issuerPem, lookedAt);
      })(),
    ]);
    for (const [pending, obs] of [[crlPending, (s: Sample) => s.crl], [ocspPending, (s: Sample) => s.ocsp]] as const) {
      for (const s of pending) if (fx.clock.nowMs() - s.acknowledgedAtMs > horizon || obs(s).polls >= pollsPerHorizon) pending.delete(s);
    }
    if (samples.length === certs.length && crlPending.size === 0 && ocspPending.size === 0) break;
    await sleep(poll);
  }
  return samples;
}

const observation = <T>(): Observation<T> => ({ polls: 0, answered: 0, faults: 0 });

/** What one look gave: something to judge, a defect another check fails on, or nothing certify can judge. */
type Look<T> =
  | { kind: "answer"; value: T }
  | { kind: "fault"; see: string; message: string }
  | { kind: "unjudged"; why: NotJudgedCause; message: string; fix: string };

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split("\n")[0].slice(0, 300);

/**
 * A CRL fetch that threw, read as judgement.ts reads a check's exception: a
 * 5xx or bytes that do not decode are the CA's (CRL-SIGNATURE, fetching the
 * same CRL, fails on them); a 401, a 429, an unreachable endpoint or another
 * refusal tell nothing about the revocation.
 */
function crlFailure(err: unknown): Look<never> {
  if (err instanceof Precondition || err instanceof NotJudged) throw err;
  const j = judgeThrown(err);
  if (j.outcome === "fail") return { kind: "fault", see: "CRL-SIGNATURE", message: firstLine(err) };
  return { kind: "unjudged", why: j.cause ?? "harness", message: j.message, fix: j.fix ?? "" };
}

/**
 * An OCSP exchange that threw: an HTTP error or undecodable bytes are the
 * responder's (OCSP-POST fails on them); a 401, a 429 and a transport error
 * tell nothing about the revocation.
 */
function ocspFailure(err: unknown): Look<never> {
  if (err instanceof Precondition || err instanceof NotJudged) throw err;
  if (err instanceof OcspTransportError) {
    return { kind: "unjudged", why: "unreachable", message: `the responder could not be reached: ${firstLine(err)}`, fix: "check that the CA's OCSP responder is running and reachable from here" };
  }
  if (err instanceof CaError && err.status !== 401 && err.status !== 429) return { kind: "fault", see: "OCSP-POST", message: firstLine(err) };
  const j = judgeThrown(err);
  if (j.outcome === "fail") return { kind: "fault", see: "OCSP-POST", message: firstLine(err) };
  return { kind: "unjudged", why: j.cause ?? "harness", message: j.message, fix: j.fix ?? "" };
}

/** RFC 6960 2.3: tryLater and sigRequired say nothing about the certificate; the other unsuccessful statuses are OCSP-GOOD's to fail. */
function ocspAnswer(response: OcspInfo, issuerPem: string, serial: string): Look<OcspInfo> {
  if (response.responseStatusName === "tryLater") return { kind: "unjudged", why: "throttled", message: "the responder answered tryLater: it could not answer then", fix: "run again later" };
  if (response.responseStatusName === "sigRequired") {
    return { kind: "unjudged", why: "adapter", message: "the responder requires signed requests (sigRequired, RFC 6960 4.1.2); certify cannot sign OCSP requests", fix: "let the responder answer unsigned requests from certify's address for the run" };
  }
  if (response.responseStatus !== 0) return { kind: "fault", see: "OCSP-GOOD", message: `responseStatus ${response.responseStatusName}` };
  if (!singleFor(response, issuerPem, serial)) return { kind: "fault", see: "OCSP-GOOD", message: "a successful response without a SingleResponse for this CertID" };
  return { kind: "answer", value: response };
}

/** One CRL fetch for every pending serial; a CRL the issuing CA did not sign shows nothing. */
async function lookAtCrl(fx: Fixtures, pending: Set<Sample>, lookedAt: Map<Observation<unknown>, number>): Promise<void> {
  let look: Look<CrlInfo>;
  try {
    const crl = await fx.crl();
    look = (await fx.signedByIssuer(crl)) ? { kind: "answer", value: crl } : { kind: "fault", see: "CRL-SIGNATURE", message: `a CRL the issuing CA did not sign (issuer ${crl.issuer})` };
  } catch (err) {
    look = crlFailure(err);
  }
  const at = fx.clock.nowMs();
  for (const s of pending) {
    const serial = normSerial(s.cert.issued.serial);
    if (record(s.crl, look, (crl) => crl.entries.has(serial), s.acknowledgedAtMs, at, lookedAt)) pending.delete(s);
  }
}

/** One OCSP request for a pending serial; only a successful answer for its very CertID, saying revoked, shows it. */
async function lookAtOcsp(fx: Fixtures, s: Sample, pending: Set<Sample>, issuerPem: string, lookedAt: Map<Observation<unknown>, number>): Promise<void> {
  const serial = normSerial(s.cert.issued.serial);
  let look: Look<OcspInfo>;
  try {
    const { response } = await fx.ocspExchange(issuerPem, [serial], {});
    look = ocspAnswer(response, issuerPem, serial);
  } catch (err) {
    look = ocspFailure(err);
  }
  const shows = (r: OcspInfo) => singleFor(r, issuerPem, serial)?.status === "revoked";
  if (record(s.ocsp, look, shows, s.acknowledgedAtMs, fx.clock.nowMs(), lookedAt)) pending.delete(s);
}

/**
 * Counts one look at `obs`; true when it showed the revocation. A look that
 * told nothing is not a look: the next figure's resolution spans it.
 */
function record<T>(obs: Observation<T>, look: Look<T>, shows: (t: T) => boolean, t0: number, at: number, lookedAt: Map<Observation<unknown>, number>): boolean {
  obs.polls++;
  obs.lastUnjudged = look.kind === "unjudged";
  if (look.kind === "unjudged") {
    obs.unjudged = { polls: (obs.unjudged?.polls ?? 0) + 1, why: look.why, message: look.message, fix: look.fix };
    obs.lastError = look.message;
    return false;
  }
  if (look.kind === "fault") {
    obs.faults++;
    obs.faultSee = look.see;
    obs.lastError = look.message;
  } else {
    obs.answered++;
    obs.last = look.value;
    if (shows(look.value)) {
      shown(obs, look.value, t0, at, lookedAt);
      lookedAt.set(obs, at);
      return true;
    }
  }
  obs.missedAtMs = Math.max(0, at - t0);
  lookedAt.set(obs, at);
  return false;
}

function shown<T>(obs: Observation<T>, seen: T, t0: number, at: number, lookedAt: Map<Observation<unknown>, number>): void {
  obs.seen = seen;
  obs.delayMs = Math.max(0, at - t0);
  obs.resolutionMs = Math.max(0, at - Math.max(t0, lookedAt.get(obs) ?? t0));
}

/**
 * What a sample's observation lets a check say about it:
 * - seen: shown after `delayMs`, at the earliest after `lowerMs` (below the
 *   delay only when looks that told nothing came between);
 * - never: the CA's last word within the horizon did not show it;
 * - unknown: not seen, and the last looks told nothing (throttled,
 *   unreachable...): it may have shown any time after `lowerMs`.
 */
export type Showing =
  | { kind: "seen"; delayMs: number; lowerMs: number }
  | { kind: "never" }
  | { kind: "unknown"; lowerMs: number; unjudged: Unjudged };

export function showing(obs: Observation<unknown>): Showing {
  if (obs.delayMs !== undefined) {
    return { kind: "seen", delayMs: obs.delayMs, lowerMs: obs.unjudged ? Math.max(0, obs.delayMs - (obs.resolutionMs ?? 0)) : obs.delayMs };
  }
  if (obs.unjudged && obs.lastUnjudged) return { kind: "unknown", lowerMs: obs.missedAtMs ?? 0, unjudged: obs.unjudged };
  return { kind: "never" };
}

/**
 * Why a watched revocation was not seen, as the exception a check that needs
 * it seen throws: the CA answered nothing but defects another check fails on
 * (skip: see that check); certify could not look (not judged, with the fix);
 * or the CA's answers never showed it, which `propagationCheck` fails on.
 */
export function notShown(obs: Observation<unknown>, what: { name: string; propagationCheck: string }, evidence: Record<string, unknown> = {}): Precondition | NotJudged {
  const ev = { ...evidence, polls: obs.polls, answered: obs.answered, faults: obs.faults, notJudgedPolls: obs.unjudged?.polls ?? 0, last: obs.lastError ?? null };
  if (obs.answered === 0 && obs.faultSee) return new Precondition(`no answer from ${what.name} to judge (${obs.lastError}): see ${obs.faultSee}`, ev);
  const s = showing(obs);
  if (s.kind === "unknown") {
    return new NotJudged(s.unjudged.why, `certify could not see whether the revocation reached ${what.name}: ${s.unjudged.polls} of ${obs.polls} looks told nothing (${s.unjudged.message})`, s.unjudged.fix, ev);
  }
  return new Precondition(`the revocation never appeared in ${what.name}: see ${what.propagationCheck}`, ev);
}

/**
 * Whether the revocation time a CA states falls between the moment certify
 * sent the request and its acknowledgement (within the tolerated clock
 * skew): the CA's own claim (revokedAt) may be wrong too, e.g. truncated to
 * the day and reported so.
 */
export function revokedWithinRequest(at: Date, w: Pick<Sample, "requestedAtMs" | "acknowledgedAtMs">, skewMs: number, resolutionMs = 0): boolean {
  const t = at.getTime();
  return t >= w.requestedAtMs - skewMs - resolutionMs && t <= w.acknowledgedAtMs + skewMs;
}

/** The window for evidence: when certify asked, when the CA answered, and the skew allowed. */
export const requestWindow = (w: Pick<Sample, "requestedAtMs" | "acknowledgedAtMs">, skewMs: number) => ({
  requestedAt: new Date(w.requestedAtMs),
  acknowledgedAt: new Date(w.acknowledgedAtMs),
  clockSkewMs: skewMs,
});
