import { addYears, DEFAULT_POLICY, type LifecyclePolicy } from "../../core/index.js";
import type { Scenario } from "../format.js";

/**
 * The people and cards every explored lifecycle acts on: one personal card
 * that outlives its 3-year certificates, and one professional card (an
 * organisation with legal and authorised representatives) that expires
 * first, so that the card-expiry cap and the representatives' codes are
 * both in play. Fixed, so that a shrunk run is a scenario file as it is.
 */
export const EXPLORE_START = new Date("2025-01-06T09:00:00Z");

export interface CastCard {
  id: string;
  holder: string;
  /** Years after the start the card expires (the CHUID keeps the date). */
  years: number;
  pin: string;
  professional: boolean;
}

export const CAST_CARDS: readonly CastCard[] = [
  { id: "ana-card", holder: "ana", years: 5, pin: "482913", professional: false },
  { id: "ben-card", holder: "ben", years: 2, pin: "735102", professional: true },
];

export const CAST_ORGANISATIONS = [{ id: "acme", name: "ACME Engineering SA" }] as const;

export const CAST_HOLDERS = [
  { id: "ana", name: "Ana Lopes", email: "ana.lopes@example.org", answers: { dateOfBirth: "1986-02-14" } },
  { id: "ben", name: "Ben Okafor", email: "ben.okafor@acme.example", organisation: "acme", answers: { dateOfBirth: "1979-10-03" } },
] as const;

/** New PINs an unblock may set (6 digits, as the policy's PINs). */
export const NEW_PINS = ["564738", "209384"] as const;

/** A policy as a scenario names it (`default`, `ocsp`, or a path) and as it reads. */
export interface NamedPolicy {
  ref: string;
  policy: LifecyclePolicy;
}

/** The scenario an exploration runs its steps in (no steps: they are generated one at a time). */
export function explorationScenario(o: { seed: number; ca: string; file?: string; name?: string; policy?: NamedPolicy; start?: Date }): Scenario {
  const start = o.start ?? EXPLORE_START;
  return {
    file: o.file ?? "explore",
    name: o.name ?? `explore seed ${o.seed}`,
    seed: o.seed,
    start,
    policyRef: o.policy?.ref ?? "default",
    policy: o.policy?.policy ?? DEFAULT_POLICY,
    ca: o.ca,
    reader: "memory",
    organisations: CAST_ORGANISATIONS.map((x) => ({ ...x })),
    holders: CAST_HOLDERS.map((h) => ({ id: h.id, name: h.name, email: h.email, ...("organisation" in h ? { organisation: h.organisation } : {}), answers: { ...h.answers } })),
    cards: CAST_CARDS.map((c) => ({ id: c.id, holder: c.holder, expires: addYears(start, c.years), pin: c.pin })),
    steps: [],
  };
}

/** The card's expiry as the card states it (CHUID tag 35: a date, read as midnight UTC). */
export function chuidExpiry(expires: Date): number {
  return Date.UTC(expires.getUTCFullYear(), expires.getUTCMonth(), expires.getUTCDate());
}
