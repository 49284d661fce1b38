import { normSerial, singleFor, type CrlInfo } from "../pkix.js";
import type { RevocationReason, RevocationResult } from "../../simulator/ca/index.js";
import type { OcspInfo } from "../pkix.js";
import type { Fixtures, Issued } from "./fixtures.js";
import { NotJudged, Precondition } from "./types.js";

/**
 * Watching revocations reach the CRL and OCSP, for the propagation checks
 * and the fixtures that need a revoked certificate seen published.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Observation<T> {
  /** ms from the revocation's acknowledgement until it was first seen; undefined: not within the horizon. */
  delayMs?: number;
  /** How long before `delayMs` the previous look found nothing (or the acknowledgement): the figure's resolution. */
  resolutionMs?: number;
  polls: number;
  /** Fetches that gave something to judge: a CRL signed by the issuing CA, a successful OCSP answer for this CertID. */
  answered: number;
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
      const revocation = await fx.revokeToWatch(cert, reason);
      const s: Sample = { cert, reason, revocation, acknowledgedAtMs: fx.clock.nowMs(), crl: { polls: 0, answered: 0 }, ocsp: { polls: 0, answered: 0 } };
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

/** One CRL fetch for every pending serial; a CRL the issuing CA did not sign shows nothing. */
async function lookAtCrl(fx: Fixtures, pending: Set<Sample>, lookedAt: Map<Observation<unknown>, number>): Promise<void> {
  let crl: CrlInfo | undefined;
  let error: string | undefined;
  try {
    crl = await fx.crl();
    if (!(await fx.signedByIssuer(crl))) error = `a CRL the issuing CA did not sign (issuer ${crl.issuer}): see CRL-SIGNATURE`;
  } catch (err) {
    if (err instanceof Precondition || err instanceof NotJudged) throw err;
    error = (err as Error).message.split("\n")[0];
  }
  const at = fx.clock.nowMs();
  for (const s of pending) {
    s.crl.polls++;
    if (error || !crl) s.crl.lastError = error;
    else {
      s.crl.answered++;
      s.crl.last = crl;
      if (crl.entries.has(normSerial(s.cert.issued.serial))) {
        shown(s.crl, crl, s.acknowledgedAtMs, at, lookedAt);
        pending.delete(s);
      }
    }
    lookedAt.set(s.crl, at);
  }
}

/** One OCSP request for a pending serial; only a successful answer for its very CertID, saying revoked, shows it. */
async function lookAtOcsp(fx: Fixtures, s: Sample, pending: Set<Sample>, issuerPem: string, lookedAt: Map<Observation<unknown>, number>): Promise<void> {
  const serial = normSerial(s.cert.issued.serial);
  s.ocsp.polls++;
  try {
    const { response } = await fx.ocspExchange(issuerPem, [serial], {});
    const at = fx.clock.nowMs();
    const single = response.responseStatus === 0 ? singleFor(response, issuerPem, serial) : undefined;
    if (!single) {
      s.ocsp.lastError = response.responseStatus === 0 ? "a successful response without a SingleResponse for this CertID" : `responseStatus ${response.responseStatusName}`;
    } else {
      s.ocsp.answered++;
      s.ocsp.last = response;
      if (single.status === "revoked") {
        shown(s.ocsp, response, s.acknowledgedAtMs, at, lookedAt);
        pending.delete(s);
      }
    }
    lookedAt.set(s.ocsp, at);
  } catch (err) {
    if (err instanceof Precondition || err instanceof NotJudged) throw err;
    s.ocsp.lastError = (err as Error).message.split("\n")[0];
    lookedAt.set(s.ocsp, fx.clock.nowMs());
  }
}

function shown<T>(obs: Observation<T>, seen: T, t0: number, at: number, lookedAt: Map<Observation<unknown>, number>): void {
  obs.seen = seen;
  obs.delayMs = Math.max(0, at - t0);
  obs.resolutionMs = Math.max(0, at - Math.max(t0, lookedAt.get(obs) ?? t0));
}
