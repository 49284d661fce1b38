import { addYears, DEFAULT_REASON_BY_ROLE, reasonAllowed, type LifecyclePolicy, type RevocationReason, type RevokerRole } from "../../core/index.js";
import type { Action, Expectation, Scenario, StepArgs } from "../format.js";
import { CAST_CARDS, chuidExpiry, explorationScenario } from "./cast.js";
import { FULL_TARGET, type ExploreTarget } from "./target.js";

/**
 * A model of the lifecycle policy: what the card, the terminals and the CA
 * decide for each step, predicted from a few numbers per card. `applyStep`
 * returns the expected outcome (only what the policy decides: result, reason,
 * PIN tries, revoked count, status, mobile alert) and moves the model to the
 * state after the step. The rules are those of the shipped library scenarios
 * and of the embedded reference CA (lockout, source budget), stated here
 * independently of their code.
 */

const DAY_MS = 86_400_000;
const YEAR_MS = 365.25 * DAY_MS;
/** The CA's lockout (simulator/ca/lockout.ts): wait 1 s doubling, at most an hour; counts forgotten after a day untouched. */
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 3_600_000;
const FORGET_AFTER_MS = DAY_MS;
/** The CA's per-source budget of failed credential checks: six times the lockout count, refilled at 0.2 per second. */
const BUDGET_PER_SECOND = 0.2;
const PUK_TRIES = 3;

export interface CertModel {
  notAfter: number;
  revokedAt?: number;
  reason?: RevocationReason;
}

export interface CardModel {
  id: string;
  professional: boolean;
  /** The card's own expiry, as its CHUID states it (ms). */
  expiry: number;
  present: boolean;
  /** The PIN the card has now (the transport PIN until issuance); a right-PIN step types it. */
  pin: string;
  pinLeft: number;
  pukLeft: number;
  /** Certificate generation: 0 before issuance, +1 at each renewal. */
  gen: number;
  auth?: CertModel;
  sig?: CertModel;
  /** What the mobile app last read. */
  app?: { gen: number; notAfter: number };
}

export interface DocumentModel {
  id: string;
  card: string;
  cert: CertModel;
  signingTime: number;
}

interface FailureCount {
  count: number;
  nextAt: number;
  touchedAt: number;
}

export interface LifecycleModel {
  policy: LifecyclePolicy;
  /** What the CA implements of the policy (its capabilities): the rest is not generated, or predicted as the CA does it. */
  target: ExploreTarget;
  start: number;
  now: number;
  cards: Record<string, CardModel>;
  documents: DocumentModel[];
  /** Signatures asked for so far (document ids are numbered by it, made or refused). */
  signs: number;
  /** Wrong revocation credentials per (certificate, role): the CA's lockout. */
  failures: Map<string, FailureCount>;
  /** The scenario's one source's budget at the CA. */
  budget?: { tokens: number; at: number };
}

/** The model of a scenario as opened (its start moved forward when the CA keeps its own time). */
export function initialModel(scenario: Scenario = explorationScenario({ seed: 0, ca: "embedded" }), target: ExploreTarget = FULL_TARGET): LifecycleModel {
  const policy = scenario.policy;
  const cards: Record<string, CardModel> = {};
  for (const c of CAST_CARDS) {
    const spec = scenario.cards.find((x) => x.id === c.id)!;
    cards[c.id] = { id: c.id, professional: c.professional, expiry: chuidExpiry(spec.expires), present: true, pin: policy.transportPin, pinLeft: policy.pinRetries, pukLeft: PUK_TRIES, gen: 0 };
  }
  return { policy, target, start: scenario.start.getTime(), now: scenario.start.getTime(), cards, documents: [], signs: 0, failures: new Map() };
}

const refused = (reason: string, extra: Expectation = {}): Expectation => ({ result: "refused", reason, ...extra });

/** The expected outcome of one step, the model moved past it. */
export function applyStep(m: LifecycleModel, action: Action, a: StepArgs): Expectation {
  const c = a.card !== undefined ? m.cards[a.card] : undefined;
  switch (action) {
    case "issue":
      return issue(m, c!);
    case "authenticate":
      return authenticate(m, c!, a.pin === "wrong");
    case "sign":
      return sign(m, c!, a.pin === "wrong", a.document!);
    case "verify-signature":
      return verifySignature(m, a.document!, a.at ?? "signing-time");
    case "advance":
      m.now = a.to ? a.to.getTime() : m.now + a.by!;
      return { result: "ok" };
    case "renew":
      return renew(m, c!, a.pin === "wrong");
    case "mobile-sync":
      return mobileSync(m, c!);
    case "mobile-check":
      return mobileCheck(m, c!);
    case "lose-card":
      c!.present = false;
      return { result: "ok" };
    case "find-card":
      c!.present = true;
      return { result: "ok" };
    case "revoke":
      return revoke(m, c!, a.role!, a.code === "wrong", a.reason ?? DEFAULT_REASON_BY_ROLE[a.role!]);
    case "status":
      return status(c!);
    case "verify-pin": {
      if (!c!.present) return refused("card-absent");
      let last: Expectation = { result: "ok" };
      for (let i = 0; i < (a.times ?? 1); i++) last = pinTry(m, c!, a.pin === "wrong") ?? { result: "ok" };
      return last;
    }
    case "unblock":
      return unblock(m, c!, a.puk === "wrong", a.newPin!);
  }
}

/** One PIN verification: undefined when it is right (tries back to the maximum), else the refusal. */
function pinTry(m: LifecycleModel, c: CardModel, wrong: boolean): Expectation | undefined {
  if (c.pinLeft === 0) return refused("pin-blocked");
  if (!wrong) {
    c.pinLeft = m.policy.pinRetries;
    return undefined;
  }
  c.pinLeft--;
  return c.pinLeft === 0 ? refused("pin-blocked", { retries: 0 }) : refused("wrong-pin", { retries: c.pinLeft });
}

/**
 * The relying party's verdict on a certificate at a time: expiry first, then
 * revocation (at or before that time); on a CA whose revocation data no
 * relying party accepts, that refusal for a certificate neither expired nor revoked.
 */
function validity(m: Readonly<LifecycleModel>, cert: CertModel, time: number): string {
  if (time > cert.notAfter) return "expired";
  if (cert.revokedAt !== undefined && cert.revokedAt <= time) return "revoked";
  // A revoked certificate is found on the CRL first; any other is judged by the CRL's own defect.
  return m.target.validationRefusal ?? "valid";
}

/** A new certificate's end: the policy's lifetime, capped by the card's expiry, in whole seconds. */
function newNotAfter(m: LifecycleModel, c: CardModel): number {
  let end = addYears(new Date(m.now), m.policy.lifetimeYears).getTime();
  if (m.policy.capAtCardExpiry && m.target.cardExpiryCap) end = Math.min(end, c.expiry);
  return Math.floor(end / 1000) * 1000;
}

function issue(m: LifecycleModel, c: CardModel): Expectation {
  if (!c.present) return refused("card-absent");
  // The holder's PIN replaces the transport PIN: a blocked card cannot change it.
  if (c.pinLeft === 0) return refused("pin-blocked");
  c.pinLeft = m.policy.pinRetries;
  c.pin = CAST_CARDS.find((x) => x.id === c.id)!.pin;
  const notAfter = newNotAfter(m, c);
  c.gen = 1;
  c.auth = { notAfter };
  c.sig = { notAfter };
  return {
    result: "ok",
    cappedByCard: notAfter === c.expiry,
    validYears: Math.round(((notAfter - m.now) / YEAR_MS) * 100) / 100,
    codeHolders: !m.target.cancellationCodes ? [] : c.professional ? ["holder", "legal-representative", "authorised-representative"] : ["holder"],
  };
}

function authenticate(m: LifecycleModel, c: CardModel, wrongPin: boolean): Expectation {
  if (!c.present) return refused("card-absent");
  if (!c.auth) return refused("not-personalised");
  const pin = pinTry(m, c, wrongPin);
  if (pin) return pin;
  const v = validity(m, c.auth, m.now);
  return v === "valid" ? { result: "ok", validation: "valid" } : refused(v);
}

function sign(m: LifecycleModel, c: CardModel, wrongPin: boolean, document: string): Expectation {
  m.signs++;
  if (!c.present) return refused("card-absent");
  if (!c.sig) return refused("not-personalised");
  // The signing application checks the certificate before it asks for the PIN.
  const v = validity(m, c.sig, m.now);
  if (v !== "valid") return refused(v);
  const pin = pinTry(m, c, wrongPin);
  if (pin) return pin;
  m.documents.push({ id: document, card: c.id, cert: c.sig, signingTime: m.now });
  return { result: "ok", validation: "valid" };
}

function verifySignature(m: LifecycleModel, id: string, at: "signing-time" | "now"): Expectation {
  const doc = m.documents.find((d) => d.id === id);
  if (!doc) return refused("no-document");
  const v = validity(m, doc.cert, at === "now" ? m.now : doc.signingTime);
  return v === "valid" ? { result: "ok", validation: "valid" } : refused(v);
}

function renew(m: LifecycleModel, c: CardModel, wrongPin: boolean): Expectation {
  if (!c.present) return refused("card-absent");
  // The kiosk reads the card's expiry before it asks for the PIN.
  if (c.expiry <= m.now) return refused("card-expired");
  const pin = pinTry(m, c, wrongPin);
  if (pin) return pin;
  if (!c.auth || !c.sig) return refused("not-personalised");
  // Renewal supersedes: the old certificates are revoked, unless they already were (a found card).
  for (const old of [c.auth, c.sig]) {
    if (old.revokedAt === undefined && m.policy.renewal === "revoke-superseded") {
      old.revokedAt = m.now;
      old.reason = "superseded";
    }
  }
  const notAfter = newNotAfter(m, c);
  c.gen++;
  c.auth = { notAfter };
  c.sig = { notAfter };
  return { result: "ok", serialChanged: true, cappedByCard: notAfter === c.expiry };
}

/**
 * On a CA that keeps real time the certificate was dated by the CA's clock, a
 * little before the scenario's now (the lifecycle starts ahead of it, see
 * explore.ts), and in the CA's unit (OpenSSL days, CFSSL hours): the days left
 * are the CA's to count, not predicted. The alert, months away, is.
 */
function appView(m: LifecycleModel, notAfter: number): { alert: boolean; daysLeft?: number } {
  const remaining = notAfter - m.now;
  return { alert: remaining <= m.policy.alertBeforeMs, ...(m.target.realTime ? {} : { daysLeft: Math.floor(remaining / DAY_MS) }) };
}

function mobileSync(m: LifecycleModel, c: CardModel): Expectation {
  if (!c.present) return refused("card-absent");
  if (!c.auth || !c.sig) return refused("not-personalised");
  const before = c.app?.gen;
  c.app = { gen: c.gen, notAfter: Math.min(c.auth.notAfter, c.sig.notAfter) };
  return { result: "ok", ...appView(m, c.app.notAfter), serialChanged: before !== undefined && before !== c.gen };
}

function mobileCheck(m: LifecycleModel, c: CardModel): Expectation {
  if (!c.app) return refused("never-synced");
  return { result: "ok", stale: c.app.gen !== c.gen, ...appView(m, c.app.notAfter) };
}

/**
 * Whether a revocation by `role` comes with the right credentials: not typed wrong, and a role that has them (a
 * personal card has no representatives: their codes were never issued, whatever is typed is wrong).
 */
export function rightCredentials(c: Readonly<CardModel>, role: RevokerRole, wrong: boolean): boolean {
  return !wrong && (role === "holder" || role === "operator" || c.professional);
}

/**
 * Revocation of both certificates, authentication first: the CA checks the
 * reason against the role, the lockout of (certificate, role), the source's budget, the credentials, then
 * whether it is already revoked. A refusal of the first certificate stops
 * there (the second is not asked).
 */
function revoke(m: LifecycleModel, c: CardModel, role: RevokerRole, wrong: boolean, reason: RevocationReason): Expectation {
  if (!c.auth || !c.sig) return refused("not-personalised");
  // The policy's reasons per role are judged before any credential (nothing counted).
  if (!reasonAllowed(m.policy, role, reason)) return refused("reason-not-allowed");
  // A reason the CA cannot record: it refuses the first certificate, whoever asks.
  if (m.target.unrecordedReasons.includes(reason)) return refused("unsupported-reason");
  const key = `${c.id}|${c.gen}|${role}`;
  const f = m.failures.get(key);
  if (f && f.nextAt > m.now) return refused("too-many-attempts");
  const budget = refilledBudget(m);
  if (budget.tokens < 1) return refused("too-many-attempts");
  if (!rightCredentials(c, role, wrong)) {
    const count = (f?.count ?? 0) + 1;
    for (const [k, old] of m.failures) if (old.touchedAt < m.now - FORGET_AFTER_MS) m.failures.delete(k);
    const max = m.policy.maxFailedAttempts;
    m.failures.set(key, { count, nextAt: count >= max ? m.now + Math.min(BACKOFF_FIRST_MS * 2 ** (count - max), BACKOFF_MAX_MS) : 0, touchedAt: m.now });
    budget.tokens -= 1;
    return refused("forbidden");
  }
  m.failures.delete(key);
  if (c.auth.revokedAt !== undefined) return refused("already-revoked");
  for (const cert of [c.auth, c.sig]) {
    cert.revokedAt = m.now;
    cert.reason = reason;
  }
  return { result: "ok", revoked: 2, status: "revoked" };
}

function refilledBudget(m: LifecycleModel): { tokens: number; at: number } {
  const burst = 6 * m.policy.maxFailedAttempts;
  if (!m.budget) m.budget = { tokens: burst, at: m.now };
  m.budget.tokens = Math.min(burst, m.budget.tokens + ((m.now - m.budget.at) / 1000) * BUDGET_PER_SECOND);
  m.budget.at = m.now;
  return m.budget;
}

function status(c: CardModel): Expectation {
  if (!c.auth || !c.sig) return refused("not-personalised");
  const certs = [c.auth, c.sig];
  const statuses = [...new Set(certs.map((x) => (x.revokedAt !== undefined ? "revoked" : "good")))].join(",");
  const reasons = [...new Set(certs.map((x) => x.reason).filter(Boolean))].join(",");
  return { result: "ok", status: statuses, ...(reasons ? { revocationReason: reasons } : {}) };
}

function unblock(m: LifecycleModel, c: CardModel, wrongPuk: boolean, newPin: string): Expectation {
  if (!c.present) return refused("card-absent");
  if (c.pukLeft === 0) return refused("puk-blocked");
  if (wrongPuk) {
    c.pukLeft--;
    return c.pukLeft === 0 ? refused("puk-blocked", { retries: 0 }) : refused("wrong-puk", { retries: c.pukLeft });
  }
  c.pukLeft = PUK_TRIES;
  c.pinLeft = m.policy.pinRetries;
  c.pin = newPin;
  return { result: "ok" };
}

/** The latest time the exploration lets the clock reach: a year after the longest card (the CA's own certificates last far longer). */
export function clockLimit(m: LifecycleModel): number {
  return Math.max(...Object.values(m.cards).map((c) => c.expiry)) + 365 * DAY_MS;
}
