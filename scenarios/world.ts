import { performance } from "node:perf_hooks";
import { DEFAULT_REASON_BY_ROLE, errorMessage, normSerial, type EventBus, type RevokerRole, type SeededRandom, type VirtualClock, type Outcome } from "../core/index.js";
import type { CaAdapter, CancellationCodes, Holder, Profile } from "../simulator/ca/index.js";
import {
  IssuanceStation,
  RelyingParty,
  RenewalKiosk,
  TerminalRefusal,
  openSession,
  closeSession,
  pinRefusal,
  type MobileApp,
  type SignedDocument,
} from "../simulator/terminal/index.js";
import type { TracedReader } from "../simulator/reader/index.js";
import "./events.js";
import type { CardSpec, Scenario, Step } from "./format.js";
import { compare, refusalOutcome, wrongSecret, type StepOutcome } from "./outcome.js";
import type { CardSlot } from "./readers.js";
import type { OpenedCa } from "./ca-target.js";

export interface StepResult {
  step: Step;
  outcome: Outcome;
  actual?: StepOutcome;
  message?: string;
}

export interface CardState {
  spec: CardSpec;
  holder: Holder;
  organisationName?: string;
  slot: CardSlot;
  reader: TracedReader;
  present: boolean;
  /** The PIN the card currently has (the transport PIN until issuance). Never emitted. */
  pin: string;
  puk: string;
  serials?: Record<Profile, string>;
  codes?: CancellationCodes;
  app: MobileApp;
  blocked: boolean;
  /** When the card's current certificates end (ms): an advance past it is an "expired" lifecycle event. */
  notAfter?: number;
}

const DAY_MS = 86_400_000;
const YEAR_MS = 365.25 * DAY_MS;

/** The state a scenario acts on: clock, CA, cards, terminals and signed documents. */
export class World {
  private readonly station: IssuanceStation;
  private readonly kiosk: RenewalKiosk;
  private readonly rp: RelyingParty;
  private readonly documents = new Map<string, SignedDocument>();
  private readonly ca: CaAdapter;

  constructor(
    private readonly scenario: Scenario,
    private readonly clock: VirtualClock,
    private readonly bus: EventBus,
    random: SeededRandom,
    private readonly target: OpenedCa,
    private readonly cards: Map<string, CardState>,
  ) {
    const ca = target.ca;
    this.ca = ca;
    // The station and the kiosk issue with the station's credential the CA connection holds (when it has one).
    // Every host-side random (management-key challenges, relying-party challenges and nonces) is a fork of the
    // scenario's stream: one seed, one run.
    this.station = new IssuanceStation({ ca, clock, bus, random: random.fork("issuance-station") });
    this.kiosk = new RenewalKiosk({ ca, clock, bus, random: random.fork("renewal-kiosk") });
    this.rp = new RelyingParty({ ca, clock, random: random.fork("relying-party"), revocation: scenario.policy.revocation });
  }

  async runStep(step: Step): Promise<StepResult> {
    const base = { scenario: this.scenario.name, index: step.index, action: step.action, label: step.label };
    this.bus.emit("step.started", { ...base, line: step.line });
    const card = step.args.card ? this.cards.get(step.args.card) : undefined;
    const apdusBefore = card?.reader.exchanges ?? 0;
    // The faults injected during the step are its evidence: an `sw` fault the terminal took for the card's
    // refusal is named in the step itself, not only in an apdu.fault event somewhere above it.
    const faults: Array<{ reader: string; exchange: number; kind: string; ins: string; detail: string }> = [];
    const stopListening = this.bus.on((e) => {
      if (e.type === "apdu.fault") faults.push({ ...e.data });
    });
    const t0 = performance.now();
    let actual: StepOutcome | undefined;
    let evidence: Record<string, unknown> = {};
    let volatile: string[] = [];
    let error: string | undefined;
    try {
      const r = await this.execute(step);
      actual = r.outcome;
      evidence = r.evidence ?? {};
      volatile = (r.volatile ?? []).map((p) => `evidence.${p}`);
    } catch (err) {
      const refused = refusalOutcome(err);
      if (refused) actual = refused;
      else error = `${(err as Error)?.name ?? "Error"}: ${errorMessage(err)}`;
    }
    const durationMs = performance.now() - t0;
    stopListening();
    let outcome: Outcome;
    let message: string | undefined;
    if (error !== undefined) {
      outcome = "error";
      message = error;
    } else {
      const mismatch = compare(step.expect, actual!);
      outcome = mismatch ? "fail" : "pass";
      message = mismatch;
    }
    // A transport error already says which fault it was; a refusal or a wrong result does not.
    if (message !== undefined && faults.length > 0 && !message.includes("injected fault")) {
      message = `${message} (injected fault${faults.length === 1 ? "" : "s"}: ${faults.map((f) => `"${f.kind}" at exchange ${f.exchange}, ${f.detail}`).join("; ")})`;
    }
    if (faults.length > 0) evidence = { ...evidence, faults };
    this.bus.emit(
      "step.finished",
      { ...base, outcome, expected: step.expect, actual, message, evidence: { line: step.line, ...evidence }, durationMs },
      ["durationMs", ...volatile],
    );
    const labels = { scenario: this.scenario.name, action: step.action };
    if (card) this.bus.emit("metric.sample", { name: "step.apdus", value: card.reader.exchanges - apdusBefore, unit: "count", labels });
    this.bus.emit("metric.sample", { name: "step.wall", value: durationMs, unit: "ms", labels }, ["value"]);
    return { step, outcome, actual, message };
  }

  private card(step: Step): CardState {
    return this.cards.get(step.args.card!)!;
  }

  private lifecycle(card: CardState, state: "issued" | "renewed" | "lost" | "found" | "revoked" | "blocked" | "unblocked" | "expired", detail?: string): void {
    this.bus.emit("card.lifecycle", { scenario: this.scenario.name, card: card.spec.id, state, ...(detail ? { detail } : {}) });
  }

  /** A card the holder no longer has cannot be used at any terminal. */
  private presentCard(step: Step): CardState {
    const c = this.card(step);
    if (!c.present) throw new TerminalRefusal("card-absent", `card ${c.spec.id} is not in the holder's hands (lost)`);
    return c;
  }

  private pinFor(c: CardState, given: string | undefined): string {
    return given === undefined ? c.pin : given === "wrong" ? wrongSecret(c.pin) : given;
  }

  private async execute(step: Step): Promise<{ outcome: StepOutcome; evidence?: Record<string, unknown>; volatile?: string[] }> {
    const a = step.args;
    switch (step.action) {
      case "issue": {
        const c = this.presentCard(step);
        const pin = a.pin ?? c.spec.pin;
        const r = await this.station.personalise(c.reader, {
          holder: c.holder,
          pin,
          transportPin: c.pin,
          alg: this.scenario.policy.algorithm,
          capAtCardExpiry: this.scenario.policy.capAtCardExpiry,
        });
        c.pin = pin;
        c.serials = { authentication: r.authentication.serial, signature: r.signature.serial };
        if (r.cancellationCodes) c.codes = r.cancellationCodes;
        this.rp.trustChain(r.authentication.chainPem);
        c.notAfter = Math.min(r.authentication.notAfter.getTime(), r.signature.notAfter.getTime());
        this.lifecycle(c, "issued", `${r.authentication.serial} / ${r.signature.serial}`);
        const notAfter = r.authentication.notAfter;
        return {
          outcome: {
            result: "ok",
            cappedByCard: notAfter.getTime() === Math.floor(r.cardExpiry.getTime() / 1000) * 1000,
            validYears: round2((notAfter.getTime() - this.clock.nowMs()) / YEAR_MS),
            codeHolders: codeRoles(r.cancellationCodes),
          },
          evidence: { serials: c.serials, notAfter: notAfter.toISOString(), cardExpiry: r.cardExpiry.toISOString() },
        };
      }
      case "authenticate": {
        const c = this.presentCard(step);
        try {
          const r = await this.rp.authenticate(c.reader, this.pinFor(c, a.pin));
          return { outcome: { result: "ok", validation: r.check.result }, evidence: { serial: r.serial, signature: r.signature }, volatile: ["signature"] };
        } catch (err) {
          throw this.noteBlocked(c, err);
        }
      }
      case "sign": {
        const c = this.presentCard(step);
        const content = a.content ?? `document ${a.document} (${this.scenario.name})`;
        try {
          const doc = await this.rp.signDocument(c.reader, this.pinFor(c, a.pin), a.document!, content);
          this.documents.set(doc.id, doc);
          return {
            outcome: { result: "ok", validation: "valid" },
            evidence: { document: doc.id, signingTime: doc.signingTime.toISOString(), signature: Buffer.from(doc.signature).toString("hex") },
            volatile: ["signature"],
          };
        } catch (err) {
          throw this.noteBlocked(c, err);
        }
      }
      case "verify-signature": {
        const doc = this.documents.get(a.document!);
        if (!doc) throw new TerminalRefusal("no-document", `document ${a.document} was never signed`);
        const check = await this.rp.verifyDocument(doc, a.at ?? "signing-time");
        const evidence = { signingTime: doc.signingTime.toISOString(), at: a.at ?? "signing-time", ...(check.revokedAt ? { revokedAt: check.revokedAt, revocationReason: check.revocationReason } : {}) };
        return check.valid
          ? { outcome: { result: "ok", validation: check.result }, evidence }
          : { outcome: { result: "refused", reason: check.result, validation: check.result }, evidence: { ...evidence, detail: check.detail } };
      }
      case "advance": {
        const target = a.to ? a.to.getTime() : this.clock.nowMs() + a.by!;
        if (target < this.clock.nowMs()) throw new TerminalRefusal("clock-backwards", `cannot move the clock back to ${new Date(target).toISOString()}`);
        const before = this.clock.nowMs();
        this.clock.set(new Date(target));
        await this.target.advanceTo?.(this.clock.now());
        for (const c of this.cards.values()) {
          // Expiry is not an action anyone takes, but it belongs on the card's timeline.
          if (c.notAfter !== undefined && before < c.notAfter && c.notAfter <= target) {
            this.lifecycle(c, "expired", `certificates ended ${new Date(c.notAfter).toISOString()}`);
          }
        }
        return { outcome: { result: "ok" }, evidence: { now: this.clock.now().toISOString() } };
      }
      case "renew": {
        const c = this.presentCard(step);
        try {
          const r = await this.kiosk.renew(c.reader, { pin: this.pinFor(c, a.pin), holder: c.holder, alg: this.scenario.policy.algorithm });
          const before = c.serials;
          c.serials = { authentication: r.authentication.serial, signature: r.signature.serial };
          this.rp.trustChain(r.authentication.chainPem);
          c.notAfter = Math.min(r.authentication.notAfter.getTime(), r.signature.notAfter.getTime());
          this.lifecycle(c, "renewed", `${r.authentication.serial} / ${r.signature.serial}${r.reissued ? " (re-issued)" : ""}`);
          return {
            outcome: {
              result: "ok",
              cappedByCard: r.authentication.notAfter.getTime() === Math.floor(r.cardExpiry.getTime() / 1000) * 1000,
              serialChanged: before?.authentication !== r.authentication.serial,
            },
            evidence: { previous: r.previous, serials: c.serials, reissued: r.reissued, notAfter: r.authentication.notAfter.toISOString() },
          };
        } catch (err) {
          throw this.noteBlocked(c, err);
        }
      }
      case "mobile-sync": {
        const c = this.presentCard(step);
        const before = c.app.view()?.certificates.authentication?.serial;
        const v = await c.app.sync(c.reader);
        const now = v.certificates.authentication?.serial;
        return {
          outcome: { result: "ok", alert: v.alert, daysLeft: v.daysLeft, serialChanged: before !== undefined && before !== now },
          evidence: { serial: now, syncedAt: v.syncedAt.toISOString() },
        };
      }
      case "mobile-check": {
        const c = this.card(step);
        const v = c.app.view();
        if (!v) throw new TerminalRefusal("never-synced", "the app has not read the card yet");
        const shown = v.certificates.authentication?.serial;
        return {
          outcome: { result: "ok", stale: !sameSerial(shown, c.serials?.authentication), alert: v.alert, daysLeft: v.daysLeft },
          evidence: { shown, onCard: c.serials?.authentication, syncedAt: v.syncedAt.toISOString() },
        };
      }
      case "lose-card": {
        const c = this.card(step);
        await c.slot.remove();
        c.present = false;
        this.lifecycle(c, "lost");
        return { outcome: { result: "ok" } };
      }
      case "find-card": {
        const c = this.card(step);
        await c.slot.insert();
        c.present = true;
        this.lifecycle(c, "found");
        return { outcome: { result: "ok" } };
      }
      case "revoke":
        return this.revoke(step);
      case "status": {
        const c = this.card(step);
        if (!c.serials) throw new TerminalRefusal("not-personalised", `card ${c.spec.id} has no certificates`);
        const which = profilesOf(a.certificate ?? "both");
        const statuses = await Promise.all(which.map((p) => this.ca.status(c.serials![p])));
        const status = [...new Set(statuses.map((s) => s.status))].join(",");
        const reasons = [...new Set(statuses.map((s) => s.reason).filter(Boolean))].join(",");
        return {
          outcome: { result: "ok", status, ...(reasons ? { revocationReason: reasons } : {}) },
          evidence: Object.fromEntries(statuses.map((s, i) => [which[i], { serial: s.serial, status: s.status, revokedAt: s.revokedAt?.toISOString() }])),
        };
      }
      case "verify-pin": {
        const c = this.presentCard(step);
        const pin = this.pinFor(c, a.pin);
        let last: StepOutcome = { result: "ok" };
        for (let i = 0; i < (a.times ?? 1); i++) {
          const client = await openSession(c.reader);
          try {
            await client.verifyPin(pin);
            last = { result: "ok" };
          } catch (err) {
            const refused = refusalOutcome(this.noteBlocked(c, pinRefusal(err, "PIN")));
            if (!refused) throw err;
            last = refused;
          } finally {
            await closeSession(c.reader);
          }
        }
        return { outcome: last };
      }
      case "unblock": {
        const c = this.presentCard(step);
        const puk = a.puk === undefined ? c.puk : a.puk === "wrong" ? wrongSecret(c.puk) : a.puk;
        const client = await openSession(c.reader);
        try {
          await client.unblockPin(puk, a.newPin!);
        } catch (err) {
          throw pinRefusal(err, "PUK");
        } finally {
          await closeSession(c.reader);
        }
        c.pin = a.newPin!;
        c.blocked = false;
        this.lifecycle(c, "unblocked");
        return { outcome: { result: "ok" } };
      }
    }
  }

  /** Revokes the card's certificates with the role's credentials (the right ones, wrong ones, or as written). */
  private async revoke(step: Step): Promise<{ outcome: StepOutcome; evidence?: Record<string, unknown> }> {
    const a = step.args;
    const c = this.card(step);
    if (!c.serials) throw new TerminalRefusal("not-personalised", `card ${c.spec.id} has no certificates`);
    const role = a.role!;
    const reason = a.reason ?? DEFAULT_REASON_BY_ROLE[role];
    const mode = a.code ?? "correct";
    const credentials = this.credentials(c, role, mode);
    const revoked: string[] = [];
    for (const profile of profilesOf(a.certificate ?? "both")) {
      const serial = c.serials[profile];
      await this.ca.revoke({ serial, reason, role, ...credentials });
      revoked.push(serial);
    }
    this.lifecycle(c, "revoked", `${role}: ${reason}`);
    return { outcome: { result: "ok", revoked: revoked.length, status: "revoked" }, evidence: { serials: revoked, role, reason } };
  }

  private credentials(c: CardState, role: RevokerRole, mode: string): { code?: string; email?: string; name?: string; answers?: Record<string, string>; operatorToken?: string } {
    const corrupt = (s: string) => (mode === "wrong" ? wrongSecret(s) : mode === "correct" ? s : mode);
    if (role === "operator") {
      const answers: Record<string, string> = { holderId: c.holder.id, ...(c.holder.registration ?? {}) };
      if (mode !== "correct") for (const k of Object.keys(answers)) answers[k] = corrupt(answers[k]);
      // The operator signs in at the desk with the operator's own credential; the holder's answers are checked on top.
      return { answers, operatorToken: this.ca.credentials?.().operatorToken };
    }
    const codes = c.codes ?? { holder: "" };
    const code = role === "holder" ? codes.holder : role === "legal-representative" ? codes.legalRepresentative : codes.authorisedRepresentative;
    const creds = { code: corrupt(code ?? "NO-CODE-ISSUED") };
    return role === "holder" ? { ...creds, email: c.holder.email, name: c.holder.name } : creds;
  }

  /** A PIN refusal that blocks the card is also a lifecycle event (once, until unblocked). */
  private noteBlocked(c: CardState, err: unknown): unknown {
    if (err instanceof TerminalRefusal && err.reason === "pin-blocked" && !c.blocked) {
      c.blocked = true;
      this.lifecycle(c, "blocked");
    }
    return err;
  }
}

function profilesOf(which: "authentication" | "signature" | "both"): Profile[] {
  return which === "both" ? ["authentication", "signature"] : [which];
}

function codeRoles(codes?: CancellationCodes): string[] {
  if (!codes) return [];
  return [
    ...(codes.holder ? ["holder"] : []),
    ...(codes.legalRepresentative ? ["legal-representative"] : []),
    ...(codes.authorisedRepresentative ? ["authorised-representative"] : []),
  ];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Two notations of one serial: the card and the mobile app read it as the
 * certificate writes it (leading zero octets kept), a CA adapter may give it
 * as a number (none): compared as integers (core's normSerial).
 */
export function sameSerial(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return normSerial(a) === normSerial(b);
}
