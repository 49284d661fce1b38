import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  addYears,
  CARD_REVOCATION_REASONS,
  errorMessage,
  parseDuration,
  REVOKER_ROLES,
  UsageError,
  type LifecyclePolicy,
  type RevocationReason,
  type RevokerRole,
} from "../core/index.js";
import { loadPolicy, pinText, PolicyError, PolicyReadError, resolvePolicyRef } from "../policies/index.js";
import { faultProfileFrom, statusWordsAsWritten, type FaultProfile } from "../simulator/reader/index.js";
import { parseYaml, ScenarioError, type Located } from "./source.js";

/**
 * The scenario file format. One YAML document:
 *
 *   name, seed, start (the virtual clock), policy, ca (embedded | URL), reader (memory),
 *   actors: { holders, organisations, cards }, steps: [ { <action>: args, expect, label } ],
 *   faults (a fault profile, simulator/reader/fault-profile.ts; `cards:` in it picks the cards)
 *
 * Every field is checked on load; a mistake names file, line and field.
 */

export const ACTIONS = [
  "issue",
  "authenticate",
  "sign",
  "verify-signature",
  "advance",
  "renew",
  "mobile-sync",
  "mobile-check",
  "lose-card",
  "find-card",
  "revoke",
  "status",
  "verify-pin",
  "unblock",
] as const;
export type Action = (typeof ACTIONS)[number];


export interface HolderSpec {
  id: string;
  name: string;
  email: string;
  organisation?: string;
  /** Answers to the operator's identity questions (never logged). */
  answers: Record<string, string>;
}

export interface OrganisationSpec {
  id: string;
  name: string;
}

export interface CardSpec {
  id: string;
  holder: string;
  expires: Date;
  /** The PIN the holder chooses at issuance. */
  pin: string;
}

/** What a step checks: fields of its outcome. `result` is always there. */
export type Expectation = Record<string, unknown>;

export interface Step {
  index: number;
  line: number;
  action: Action;
  label?: string;
  args: StepArgs;
  expect: Expectation;
}

/** Arguments after validation; which ones are set depends on the action. */
export interface StepArgs {
  card?: string;
  pin?: string;
  puk?: string;
  newPin?: string;
  document?: string;
  content?: string;
  at?: "signing-time" | "now";
  by?: number;
  to?: Date;
  role?: RevokerRole;
  code?: string;
  reason?: RevocationReason;
  certificate?: "authentication" | "signature" | "both";
  times?: number;
}

export interface Scenario {
  file: string;
  name: string;
  seed: number | string;
  start: Date;
  policyRef: string;
  policy: LifecyclePolicy;
  ca: string;
  reader: string;
  holders: HolderSpec[];
  organisations: OrganisationSpec[];
  cards: CardSpec[];
  steps: Step[];
  /** Faults injected between each card (or the cards the profile names) and its terminal; `run --faults` replaces it. */
  faults?: FaultProfile;
}

/** Every outcome may carry these: a refusal's reason, PIN/PUK tries left, the certificate validation's result. */
export const COMMON_OUTCOME_FIELDS = ["result", "reason", "retries", "validation"] as const;

/** Fields each action's outcome can carry besides the common ones; an expectation may name only these. */
export const OUTCOME_FIELDS: Record<Action, readonly string[]> = {
  issue: ["cappedByCard", "validYears", "codeHolders"],
  authenticate: ["validation"],
  sign: ["validation"],
  "verify-signature": ["validation"],
  advance: [],
  renew: ["cappedByCard", "serialChanged"],
  "mobile-sync": ["alert", "daysLeft", "serialChanged"],
  "mobile-check": ["stale", "alert", "daysLeft"],
  "lose-card": [],
  "find-card": [],
  revoke: ["revoked", "status"],
  status: ["status", "revocationReason"],
  "verify-pin": ["retries"],
  unblock: ["retries"],
};

/** Which arguments each action takes; the first is what a scalar shorthand (`lose-card: c1`) means. */
const ARGS: Record<Action, readonly (keyof StepArgs)[]> = {
  issue: ["card", "pin"],
  authenticate: ["card", "pin"],
  sign: ["card", "document", "content", "pin"],
  "verify-signature": ["document", "at"],
  advance: ["by", "to"],
  renew: ["card", "pin"],
  "mobile-sync": ["card"],
  "mobile-check": ["card"],
  "lose-card": ["card"],
  "find-card": ["card"],
  revoke: ["card", "role", "code", "reason", "certificate"],
  status: ["card", "certificate"],
  "verify-pin": ["card", "pin", "times"],
  unblock: ["card", "puk", "newPin"],
};
const REQUIRED: Partial<Record<Action, readonly (keyof StepArgs)[]>> = {
  sign: ["card", "document"],
  "verify-signature": ["document"],
  revoke: ["card", "role"],
  "verify-pin": ["card", "pin"],
  unblock: ["card", "newPin"],
};

export function loadScenario(file: string, overrides: { seed?: number | string } = {}): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ScenarioError(file, 1, 1, "", `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseScenario(text, file, overrides);
}

export function parseScenario(text: string, file: string, overrides: { seed?: number | string } = {}): Scenario {
  const root = parseYaml(text, file);
  if (!root.isMap()) root.fail("a scenario is a YAML mapping (name, seed, start, actors, steps)");
  root.onlyKeys(["name", "description", "seed", "start", "policy", "ca", "reader", "actors", "steps", "faults"]);
  const seedNode = root.get("seed");
  const seed = overrides.seed ?? (seedNode.missing ? 1 : typeof seedNode.toJS() === "number" ? seedNode.int() : seedNode.str());
  const start = root.get("start").date();
  const policyNode = root.get("policy");
  const policyRef = policyNode.optStr() ?? "default";
  const policy = scenarioPolicy(policyNode, policyRef, file);
  const caNode = root.get("ca");
  let ca = caNode.optStr() ?? "embedded";
  if (ca.startsWith("module:")) {
    // A CaAdapter module (what `explore --ca module:PATH` found a counterexample with); a relative PATH is
    // the scenario file's, as a policy file is, so the file runs from any directory.
    const path = ca.slice("module:".length).trim();
    if (path === "") caNode.fail('module: needs the path of a CaAdapter module, e.g. "module:./my-ca.mjs"');
    ca = `module:${resolve(dirname(file), path)}`;
  } else if (!/^[a-z][a-z0-9-]*$/.test(ca) && !/^https?:\/\/\S+$/.test(ca)) {
    caNode.fail(`expected "embedded", another target name, an http(s) URL or module:PATH, got "${ca}"`);
  }
  const reader = root.get("reader").optStr() ?? "memory";

  const actors = root.get("actors");
  if (!actors.isMap()) actors.fail("expected a mapping with holders, organisations and cards");
  actors.onlyKeys(["holders", "organisations", "cards"]);
  const organisations = actors.get("organisations").items().map(parseOrganisation);
  const orgIds = new Set<string>();
  for (const [i, o] of organisations.entries()) unique(orgIds, o.id, actors.get("organisations").items()[i]);
  const holderNodes = actors.get("holders").items();
  const holders = holderNodes.map((n) => parseHolder(n, orgIds));
  const holderIds = new Set<string>();
  holders.forEach((h, i) => unique(holderIds, h.id, holderNodes[i]));
  const cardNodes = actors.get("cards").items();
  const cards = cardNodes.map((n) => parseCard(n, holderIds, start));
  const cardIds = new Set<string>();
  cards.forEach((c, i) => unique(cardIds, c.id, cardNodes[i]));
  if (cards.length === 0) actors.get("cards").fail("a scenario needs at least one card");

  const stepsNode = root.get("steps");
  const stepNodes = stepsNode.items();
  if (stepNodes.length === 0) stepsNode.fail("a scenario needs at least one step");
  const documents = new Set<string>();
  const steps = stepNodes.map((n, i) => parseStep(n, i, cardIds, documents));
  const faultsNode = root.get("faults");
  const faults = faultsNode.missing ? undefined : parseFaultsSection(faultsNode, cardIds);

  return {
    file,
    name: root.get("name").str(),
    seed,
    start,
    policyRef,
    policy,
    ca,
    reader,
    holders,
    organisations,
    cards,
    steps,
    ...(faults ? { faults } : {}),
  };
}

/** The scenario's `faults:` section: a fault profile whose mistakes are located in the scenario file. */
function parseFaultsSection(node: Located, cards: Set<string>): FaultProfile {
  const fail = (path: readonly (string | number)[], reason: string): never => {
    let at = node;
    try {
      for (const p of path) at = typeof p === "number" ? (at.items()[p] ?? at) : at.get(p);
    } catch {
      // the path leaves the YAML's shape: the deepest node reached is the place
    }
    return at.fail(reason);
  };
  if (node.node) statusWordsAsWritten(node.node);
  const profile = faultProfileFrom(node.toJS(), `${node.file}:${node.line}`, fail);
  profile.cards?.forEach((id, i) => {
    if (!cards.has(id)) fail(["cards", i], `no card "${id}" in actors.cards`);
  });
  return profile;
}

/** The scenario's policy; a mistake in the policy file is reported where it is, a missing file at the scenario's `policy:`. */
function scenarioPolicy(node: Located, ref: string, scenarioFile: string): LifecyclePolicy {
  try {
    return loadPolicy(resolvePolicyRef(ref, dirname(scenarioFile)));
  } catch (err) {
    // No such shipped name, or no file to read: the scenario's `policy:` is the mistake.
    if (err instanceof UsageError) node.fail(`cannot load policy "${ref}": ${err.message}`);
    if (err instanceof PolicyReadError) node.fail(`cannot load policy "${ref}": ${errorMessage(err.cause)}`);
    // A mistake inside the policy file stays located there, as the scenario run's kind of error.
    if (err instanceof PolicyError) throw new ScenarioError(err.file, err.line, err.column, err.field, err.reason);
    throw err;
  }
}

function unique(seen: Set<string>, id: string, node: Located): void {
  if (seen.has(id)) node.get("id").fail(`duplicate id "${id}"`);
  seen.add(id);
}

function identifier(n: Located): string {
  const s = n.str();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s)) n.fail(`"${s}" is not a valid id (letters, digits, . _ -)`);
  return s;
}

function parseOrganisation(n: Located): OrganisationSpec {
  n.onlyKeys(["id", "name"]);
  return { id: identifier(n.get("id")), name: n.get("name").str() };
}

function parseHolder(n: Located, orgs: Set<string>): HolderSpec {
  n.onlyKeys(["id", "name", "email", "organisation", "answers"]);
  const org = n.get("organisation");
  const organisation = org.optStr();
  if (organisation !== undefined && !orgs.has(organisation)) org.fail(`no organisation "${organisation}" in actors.organisations`);
  const email = n.get("email");
  if (!/^[^@\s]+@[^@\s]+$/.test(email.str())) email.fail(`"${email.str()}" is not an email address`);
  const answers: Record<string, string> = {};
  const a = n.get("answers");
  if (!a.missing) for (const k of a.keys()) answers[k] = a.get(k).str();
  return { id: identifier(n.get("id")), name: n.get("name").str(), email: email.str(), organisation, answers };
}

function parseCard(n: Located, holders: Set<string>, start: Date): CardSpec {
  n.onlyKeys(["id", "holder", "expires", "pin"]);
  const holder = n.get("holder");
  if (!holders.has(holder.str())) holder.fail(`no holder "${holder.str()}" in actors.holders`);
  const exp = n.get("expires");
  // Either a date or a whole number of years after the scenario's start.
  const years = /^(\d+)y$/.exec(exp.str());
  const expires = years ? addYears(start, Number(years[1])) : exp.date();
  if (!Number.isFinite(expires.getTime())) exp.fail(`"${exp.str()}" is too far in the future to be a date`);
  if (expires.getTime() <= start.getTime()) exp.fail("the card expires before the scenario starts");
  const pin = n.get("pin");
  return { id: identifier(n.get("id")), holder: holder.str(), expires, pin: pin.missing ? "246810" : pinText(pin) };
}

function parseStep(n: Located, index: number, cards: Set<string>, documents: Set<string>): Step {
  if (!n.isMap()) n.fail(`a step is a mapping with one action (${ACTIONS.join(", ")})`);
  const keys = n.keys();
  const actionKeys = keys.filter((k) => k !== "expect" && k !== "label");
  for (const k of actionKeys) {
    if (!(ACTIONS as readonly string[]).includes(k)) n.get(k).fail(`unknown action (expected one of: ${ACTIONS.join(", ")})`);
  }
  if (actionKeys.length !== 1) n.fail(`a step has exactly one action, found ${actionKeys.length === 0 ? "none" : actionKeys.join(", ")}`);
  const action = actionKeys[0] as Action;
  const argNode = n.get(action);
  const args = parseArgs(action, argNode, cards, documents);
  const label = n.get("label").optStr();
  const expect = parseExpectation(action, n.get("expect"));
  return { index, line: n.line, action, label, args, expect };
}

function parseArgs(action: Action, node: Located, cards: Set<string>, documents: Set<string>): StepArgs {
  const allowed = ARGS[action];
  const args: StepArgs = {};
  const fields = new Map<string, Located>();
  if (node.isMap()) {
    node.onlyKeys(allowed as readonly string[]);
    for (const k of allowed) fields.set(k, node.get(k));
  } else if (!node.missing) {
    fields.set(allowed[0], node); // scalar shorthand
  }
  for (const k of REQUIRED[action] ?? []) {
    if (!fields.get(k) || fields.get(k)!.missing) (fields.get(k) ?? node).fail(`${action} needs "${k}"`);
  }
  const get = (k: string) => {
    const f = fields.get(k);
    return f && !f.missing ? f : undefined;
  };
  const card = get("card");
  if (card) {
    if (!cards.has(card.str())) card.fail(`no card "${card.str()}" in actors.cards`);
    args.card = card.str();
  } else if (allowed.includes("card")) {
    if (cards.size !== 1) node.fail(`${action} needs "card" when the scenario has several cards`);
    args.card = [...cards][0];
  }
  for (const k of ["pin", "puk", "newPin"] as const) {
    const f = get(k);
    if (f) args[k] = f.str() === "wrong" ? "wrong" : pinText(f);
  }
  const doc = get("document");
  if (doc) {
    args.document = identifier(doc);
    if (action === "sign") documents.add(args.document);
    else if (!documents.has(args.document)) doc.fail(`no earlier sign step made document "${args.document}"`);
  }
  const content = get("content");
  if (content) args.content = content.str();
  const at = get("at");
  if (at) args.at = at.oneOf(["signing-time", "now"] as const);
  const by = get("by");
  if (by) {
    try {
      args.by = parseDuration(by.str());
    } catch (err) {
      by.fail((err as Error).message);
    }
    if (!Number.isSafeInteger(args.by)) by.fail(`"${by.str()}" is too long a duration`);
  }
  const to = get("to");
  if (to) args.to = to.date();
  if (action === "advance" && args.by === undefined && args.to === undefined) node.fail('advance needs a duration (e.g. "advance: 30d") or "to: <date>"');
  const role = get("role");
  if (role) args.role = role.oneOf(REVOKER_ROLES);
  const code = get("code");
  if (code) args.code = code.str();
  const reason = get("reason");
  if (reason) args.reason = reason.oneOf(CARD_REVOCATION_REASONS);
  const cert = get("certificate");
  if (cert) args.certificate = cert.oneOf(["authentication", "signature", "both"] as const);
  const times = get("times");
  if (times) args.times = times.int(1);
  return args;
}

function parseExpectation(action: Action, node: Located): Expectation {
  if (node.missing) return { result: "ok" };
  if (node.isScalar()) return { result: node.oneOf(["ok", "refused"] as const) };
  const allowed = [...new Set([...COMMON_OUTCOME_FIELDS, ...OUTCOME_FIELDS[action]])];
  node.onlyKeys(allowed);
  const expect: Expectation = {};
  for (const k of node.keys()) {
    const v = node.get(k);
    expect[k] = k === "result" ? v.oneOf(["ok", "refused"] as const) : v.toJS();
  }
  expect.result ??= "reason" in expect ? "refused" : "ok";
  return expect;
}
