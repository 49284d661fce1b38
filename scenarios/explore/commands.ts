import fc from "fast-check";
import { CARD_REVOCATION_REASONS, DEFAULT_REASON_BY_ROLE, REVOKER_ROLES, reasonAllowed, type RevocationReason, type RevokerRole } from "../../core/index.js";
import type { Action, Expectation, Step, StepArgs } from "../format.js";
import type { StepOutcome, StepResult } from "../engine.js";
import { CAST_CARDS, NEW_PINS } from "./cast.js";
import { applyStep, clockLimit, rightCredentials, type LifecycleModel } from "./model.js";

/**
 * fast-check's model-based commands for a lifecycle: each one says when it
 * applies (check), predicts its outcome with the model, runs it as a scenario
 * step through the session, and throws when what happened differs from the
 * prediction. fast-check then shrinks the sequence.
 */

/** The system under test as the commands see it: a running scenario, and the steps run so far. */
export interface ExploreReal {
  step(step: Step): Promise<StepResult>;
  /** Every step run, with the model's expectation; the last one is the failing one when a run fails. */
  readonly steps: Step[];
  failure?: { step: Step; actual?: StepOutcome; message: string };
}

/** The model's prediction did not happen: what fast-check shrinks on. */
export class Divergence extends Error {
  override name = "Divergence";
}

type Check = (m: Readonly<LifecycleModel>) => boolean;

/** One step: its action and arguments, when it applies, and how it reads. */
export class StepCommand implements fc.AsyncCommand<LifecycleModel, ExploreReal> {
  constructor(
    readonly action: Action,
    /** Arguments; a function when they depend on the model (the next document id, a document to verify, a date). */
    private readonly args: StepArgs | ((m: Readonly<LifecycleModel>) => StepArgs),
    private readonly applies: Check,
    private readonly label: string,
  ) {}

  check(m: Readonly<LifecycleModel>): boolean {
    return this.applies(m);
  }

  async run(m: LifecycleModel, real: ExploreReal): Promise<void> {
    const args = typeof this.args === "function" ? this.args(m) : { ...this.args };
    const expect: Expectation = applyStep(m, this.action, args);
    const step: Step = { index: real.steps.length, line: 0, action: this.action, label: this.label, args, expect };
    real.steps.push(step);
    const r = await real.step(step);
    if (r.outcome !== "pass") {
      const message = r.message ?? r.outcome;
      real.failure = { step, actual: r.actual, message };
      throw new Divergence(`step ${step.index + 1} (${this.label}): ${message}`);
    }
  }

  toString(): string {
    return this.label;
  }
}

const CARD_IDS = CAST_CARDS.map((c) => c.id);
const cardArb = fc.constantFrom(...CARD_IDS);
/** True one time in `oneIn`: wrong PINs, PUKs and codes now and then, so that counters move without blocking every card at once. */
const wrongArb = (oneIn: number) => fc.integer({ min: 1, max: oneIn }).map((n) => n === 1);
const DAY = 86_400_000;
const SMALL_STEPS: readonly [string, number][] = [
  ["1h", 3_600_000],
  ["12h", 12 * 3_600_000],
  ["1d", DAY],
  ["7d", 7 * DAY],
  ["30d", 30 * DAY],
  ["90d", 90 * DAY],
  ["365d", 365 * DAY],
];

const pinArgs = (card: string, wrong: boolean): StepArgs => ({ card, ...(wrong ? { pin: "wrong" } : {}) });
const pinLabel = (wrong: boolean) => (wrong ? " (wrong PIN)" : "");
const issued = (card: string) => (m: Readonly<LifecycleModel>) => m.cards[card].gen > 0;

/** The reason drawn for a role: its usual one mostly, any reason about a card sometimes. */
const reasonArb = (role: RevokerRole): fc.Arbitrary<RevocationReason> =>
  fc.oneof({ arbitrary: fc.constant(DEFAULT_REASON_BY_ROLE[role]), weight: 3 }, { arbitrary: fc.constantFrom(...CARD_REVOCATION_REASONS), weight: 1 });

const IN_HAND_REASONS: readonly RevocationReason[] = CARD_REVOCATION_REASONS.filter((r) => r !== "keyCompromise");

/**
 * The reason given: a holder whose card is lost reports keyCompromise (the
 * card is out of their hands); a holder with the card in hand gives another
 * reason (the drawn one, or unspecified). Other roles give the drawn reason.
 */
export function reasonGiven(m: Readonly<LifecycleModel>, card: string, role: RevokerRole, drawn: RevocationReason): RevocationReason {
  if (role !== "holder") return drawn;
  if (!m.cards[card].present) return "keyCompromise";
  return IN_HAND_REASONS.includes(drawn) ? drawn : IN_HAND_REASONS[0];
}

/** Every command of a lifecycle, in one weighted choice: uses more often than losses, a found card soon after a loss. */
export function lifecycleCommands(): fc.Arbitrary<StepCommand>[] {
  const issue = cardArb.map((card) => new StepCommand("issue", { card }, (m) => m.cards[card].gen === 0 && m.now < m.cards[card].expiry, `issue ${card}`));
  const authenticate = fc
    .tuple(cardArb, wrongArb(5))
    .map(([card, wrong]) => new StepCommand("authenticate", pinArgs(card, wrong), () => true, `authenticate ${card}${pinLabel(wrong)}`));
  const sign = fc.tuple(cardArb, wrongArb(5)).map(
    ([card, wrong]) =>
      new StepCommand("sign", (m) => ({ ...pinArgs(card, wrong), document: `doc-${m.signs + 1}` }), () => true, `sign with ${card}${pinLabel(wrong)}`),
  );
  const verify = fc.tuple(fc.nat(), fc.constantFrom("signing-time" as const, "now" as const)).map(
    ([pick, at]) =>
      new StepCommand(
        "verify-signature",
        (m) => ({ document: m.documents[pick % m.documents.length].id, at }),
        (m) => m.documents.length > 0,
        `verify a signed document at ${at}`,
      ),
  );
  const wrongPin = fc
    .tuple(cardArb, fc.integer({ min: 1, max: 2 }))
    .map(([card, times]) => new StepCommand("verify-pin", { card, pin: "wrong", times }, () => true, `${times} wrong PIN(s) on ${card}`));
  const rightPin = cardArb.map((card) => new StepCommand("verify-pin", (m) => ({ card, pin: m.cards[card].pin }), () => true, `right PIN on ${card}`));
  const unblock = fc
    .tuple(cardArb, wrongArb(4), fc.constantFrom(...NEW_PINS))
    .map(([card, wrong, newPin]) => new StepCommand("unblock", { card, ...(wrong ? { puk: "wrong" } : {}), newPin }, () => true, `unblock ${card}${wrong ? " (wrong PUK)" : ""}`));
  const lose = cardArb.map((card) => new StepCommand("lose-card", { card }, (m) => m.cards[card].present, `lose ${card}`));
  const find = cardArb.map((card) => new StepCommand("find-card", { card }, (m) => !m.cards[card].present, `find ${card}`));
  const revoke = fc
    .tuple(cardArb, fc.constantFrom(...REVOKER_ROLES), wrongArb(4))
    .chain(([card, role, wrong]) => reasonArb(role).map((reason) => ({ card, role, wrong, reason })))
    .map(({ card, role, wrong, reason }) => {
      const code = wrong ? "wrong" : "correct";
      const why = (m: Readonly<LifecycleModel>) => reasonGiven(m, card, role, reason);
      const applies = (m: Readonly<LifecycleModel>) =>
        issued(card)(m) && (m.target.authorisation || unchecked(m, card, role, wrong, why(m))) && (m.target.finalRevocation || m.cards[card].auth?.revokedAt === undefined);
      return new StepCommand("revoke", (m) => ({ card, role, code, reason: why(m) }), applies, `revoke ${card} as ${role}${wrong ? " with a wrong code" : ""}`);
    });
  const renew = fc.tuple(cardArb, wrongArb(6)).map(([card, wrong]) => new StepCommand("renew", pinArgs(card, wrong), issued(card), `renew ${card}${pinLabel(wrong)}`));
  // Mostly hours and days, so that a card lives through many steps before it expires.
  const advance = fc
    .oneof({ arbitrary: fc.constantFrom(...SMALL_STEPS.slice(0, 4)), weight: 4 }, { arbitrary: fc.constantFrom(...SMALL_STEPS.slice(4)), weight: 1 })
    .map(([text, ms]) => new StepCommand("advance", { by: ms }, (m) => !m.target.realTime && m.now + ms <= clockLimit(m), `advance ${text}`));
  // Past the end of a card's current certificates (or of the card itself): a day after it.
  const pastExpiry = cardArb.map(
    (card) =>
      new StepCommand(
        "advance",
        (m) => ({ to: new Date(expiryOf(m, card) + DAY) }),
        (m) => !m.target.realTime && expiryOf(m, card) + DAY > m.now && expiryOf(m, card) + DAY <= clockLimit(m),
        `advance past the expiry of ${card}`,
      ),
  );
  const sync = cardArb.map((card) => new StepCommand("mobile-sync", { card }, () => true, `mobile sync of ${card}`));
  const mobileCheck = cardArb.map((card) => new StepCommand("mobile-check", { card }, () => true, `mobile app of ${card}`));
  const status = cardArb.map((card) => new StepCommand("status", { card, certificate: "both" }, issued(card), `status of ${card}`));
  const w = (weight: number, arbitrary: fc.Arbitrary<StepCommand>) => ({ weight, arbitrary });
  return [
    fc.oneof(
      w(5, issue),
      w(4, authenticate),
      w(4, sign),
      w(2, verify),
      w(1, wrongPin),
      w(1, rightPin),
      w(1, unblock),
      w(1, lose),
      w(3, find),
      w(3, revoke),
      w(2, renew),
      w(3, advance),
      w(1, pastExpiry),
      w(2, sync),
      w(2, mobileCheck),
      w(2, status),
    ),
  ];
}

/**
 * A revocation a CA that checks no credential judges as the policy would: the
 * right credentials of a role that has them (no representative of a personal
 * card), with a reason the policy lets that role give. The others would be
 * carried out by such a CA, not refused: they are not generated (explore says
 * "not explored").
 */
function unchecked(m: Readonly<LifecycleModel>, card: string, role: RevokerRole, wrong: boolean, reason: RevocationReason): boolean {
  return rightCredentials(m.cards[card], role, wrong) && reasonAllowed(m.policy, role, reason);
}

/** When the card's current certificates end, or the card itself when it has none. */
function expiryOf(m: Readonly<LifecycleModel>, card: string): number {
  const c = m.cards[card];
  return c.auth ? Math.min(c.auth.notAfter, c.expiry) : c.expiry;
}
