import { setTimeout as sleep } from "node:timers/promises";
import { firstLine, harnessRefusal, judgeThrown } from "../judgement.js";
import { normSerial, singleFor, type CrlInfo, type OcspInfo } from "../pkix.js";
import { CaError, type RevocationReason, type RevocationResult } from "../../simulator/ca/index.js";
import type { Fixtures, Issued } from "./fixtures.js";
import { NotJudged, Precondition, type NotJudgedCause } from "./types.js";

/**
 * Watching revocations reach the CRL and OCSP, for the propagation checks
 * and the fixtures that need a revoked certificate seen published.
 */

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
      crlPending.size ? lookAtCrl(fx, crlPending) : undefined,
      (async () => {
        for (const s of [...ocspPending]) await lookAtOcsp(fx, s, ocspPending, issuerPem);
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

/**
 * A fetch that threw, read as judgement.ts reads a check's exception: what it
 * calls the CA failing (a 5xx, bytes that do not decode) is a defect `see`
 * fails on (it fetches the same); the rest (a credential, throttling, an
 * unreachable endpoint, another refusal) tells nothing about the revocation.
 */
function failedLook(err: unknown, see: string): Look<never> {
  if (err instanceof Precondition || err instanceof NotJudged) throw err;
  const j = judgeThrown(err);
  if (j.outcome === "fail") return { kind: "fault", see, message: firstLine(err) };
  return { kind: "unjudged", why: j.cause ?? "harness", message: j.message, fix: j.fix ?? "" };
}

/** An OCSP exchange that threw: any HTTP error but one that says nothing about the request (`harnessRefusal`) is the responder's, a 4xx too. */
function ocspFailure(err: unknown): Look<never> {
  if (err instanceof CaError && !harnessRefusal(err)) return { kind: "fault", see: "OCSP-POST", message: firstLine(err) };
  return failedLook(err, "OCSP-POST");
}

/** RFC 6960 2.3 statuses that say nothing about the certificate: the responder cannot answer now (tryLater), or wants a signed request (sigRequired). */
export function unanswered(r: OcspInfo): { why: NotJudgedCause; message: string; fix: string } | undefined {
  if (r.responseStatusName === "tryLater") return { why: "throttled", message: "the responder answered tryLater: it could not answer then", fix: "run again later" };
  if (r.responseStatusName === "sigRequired") {
    return { why: "adapter", message: "the responder requires signed requests (sigRequired, RFC 6960 4.1.2); certify cannot sign OCSP requests", fix: "let the responder answer unsigned requests from certify's address for the run" };
  }
  return undefined;
}

/** Only a successful answer with a SingleResponse for this CertID is something to judge; the other unsuccessful statuses are OCSP-GOOD's to fail. */
function ocspAnswer(response: OcspInfo, issuerPem: string, serial: string): Look<OcspInfo> {
  const nothing = unanswered(response);
  if (nothing) return { kind: "unjudged", ...nothing };
  if (response.responseStatus !== 0) return { kind: "fault", see: "OCSP-GOOD", message: `responseStatus ${response.responseStatusName}` };
  if (!singleFor(response, issuerPem, serial)) return { kind: "fault", see: "OCSP-GOOD", message: "a successful response without a SingleResponse for this CertID" };
  return { kind: "answer", value: response };
}

/** One CRL fetch for every pending serial; a CRL the issuing CA did not sign shows nothing. */
async function lookAtCrl(fx: Fixtures, pending: Set<Sample>): Promise<void> {
  let look: Look<CrlInfo>;
  try {
    const crl = await fx.crl();
    look = (await fx.signedByIssuer(crl)) ? { kind: "answer", value: crl } : { kind: "fault", see: "CRL-SIGNATURE", message: `a CRL the issuing CA did not sign (issuer ${crl.issuer})` };
  } catch (err) {
    // CRL-SIGNATURE fetches the same CRL
    look = failedLook(err, "CRL-SIGNATURE");
  }
  const at = fx.clock.nowMs();
  for (const s of pending) {
    const serial = normSerial(s.cert.issued.serial);
    if (record(s.crl, look, (crl) => crl.entries.has(serial), s.acknowledgedAtMs, at)) pending.delete(s);
  }
}

/** One OCSP request for a pending serial; only a successful answer for its very CertID, saying revoked, shows it. */
async function lookAtOcsp(fx: Fixtures, s: Sample, pending: Set<Sample>, issuerPem: string): Promise<void> {
  const serial = normSerial(s.cert.issued.serial);
  let look: Look<OcspInfo>;
  try {
    const { response } = await fx.ocspExchange(issuerPem, [serial], {});
    look = ocspAnswer(response, issuerPem, serial);
  } catch (err) {
    look = ocspFailure(err);
  }
  const shows = (r: OcspInfo) => singleFor(r, issuerPem, serial)?.status === "revoked";
  if (record(s.ocsp, look, shows, s.acknowledgedAtMs, fx.clock.nowMs())) pending.delete(s);
}

/**
 * Counts one look at `obs`; true when it showed the revocation. A look that
 * told nothing is not a look: the next figure's resolution spans it.
 */
function record<T>(obs: Observation<T>, look: Look<T>, shows: (t: T) => boolean, t0: number, at: number): boolean {
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
      obs.seen = look.value;
      obs.delayMs = Math.max(0, at - t0);
      // since the previous look that told something (missedAtMs), or the acknowledgement
      obs.resolutionMs = Math.max(0, obs.delayMs - (obs.missedAtMs ?? 0));
      return true;
    }
  }
  obs.missedAtMs = Math.max(0, at - t0);
  return false;
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
