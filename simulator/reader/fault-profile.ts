import { readFileSync } from "node:fs";
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node } from "yaml";
import { FormatError, INSTRUCTIONS, SeededRandom, UsageError, errorMessage, insByName, type EventBus, type Random } from "../../core/index.js";
import type { Tearable, TearingModel } from "../card/index.js";
import { FAULT_KINDS, FaultPlan, FaultyReader, type Fault, type FaultKind, type FaultRule } from "./fault.js";
import type { Reader } from "./reader.js";

/**
 * The fault profile: which faults a run injects, as YAML a person writes
 * (`--faults FILE`, or a scenario's `faults:` section):
 *
 *   seed: 7                 # the rate draws (default: the run's seed)
 *   tearing: atomic         # the card model: atomic (default) | non-atomic
 *   timeout: 1000           # ms the host waits for an answer: a longer delay fails the exchange (default: none)
 *   cards: [alice-card]     # a scenario's cards that get the faults (default: all)
 *   faults:
 *     - drop: { at: [3, 7] }
 *     - sw: { sw: 6F00, rate: 0.01, ins: [GENERAL AUTHENTICATE] }
 *     - delay: { ms: 50, at: [2] }
 *     - lose-answer: { rate: 0.1 }
 *     - remove: { at: [10] }
 *     - tearing: { ins: [PUT DATA], at: [0], write: 0 }
 *
 * Every field is checked; a mistake names the file and line (or the field).
 */
export interface FaultProfile {
  /** Seed of the rate draws; absent: the run's seed. */
  seed?: number | string;
  /** What a torn write leaves in the card's memory (simulator/card/tearing.ts). */
  tearing: TearingModel;
  /** How long the host waits for an answer (ms): a `delay` beyond it fails the exchange. Absent: no limit. */
  timeout?: number;
  /** In a scenario: the cards that get the faults; absent: every card. */
  cards?: string[];
  rules: FaultRule[];
}

/** Reports a mistake at a field path (e.g. ["faults", 2, "sw", "sw"]); never returns. */
export type FaultProfileFail = (path: readonly (string | number)[], reason: string) => never;

const TOP_KEYS = ["seed", "tearing", "timeout", "cards", "faults"];
const ARG_KEYS: Record<FaultKind, readonly string[]> = {
  drop: [],
  "lose-answer": [],
  remove: [],
  sw: ["sw"],
  delay: ["ms"],
  tearing: ["write"],
};
const WHEN_KEYS = ["at", "rate", "ins"];
/** A delay longer than this is a hang, not a slow reader. */
const MAX_DELAY_MS = 60_000;
/** A name people write that core's table (core/instructions.ts) does not know. */
const ALIASES: Record<string, number> = { "GENERATE KEY": 0x47 };
/** The names a profile accepts, for a mistake's message. */
const NAMES = [...new Set([...INSTRUCTIONS.map((i) => i.name), "GENERATE"])].join(", ");

/** Reads a fault profile file; a mistake is a UsageError naming file and line, unreadable YAML a FormatError. */
export function loadFaultProfile(path: string): FaultProfile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read fault profile ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  return parseFaultProfile(text, path);
}

/** A fault profile's text (the file's name for messages). */
export function parseFaultProfile(text: string, file: string): FaultProfile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new FormatError("fault profile", `${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`);
  }
  statusWordsAsWritten(doc);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new FormatError("fault profile", `${file}: ${errorMessage(err).split("\n")[0]}`);
  }
  const fail: FaultProfileFail = (path, reason) => {
    const node = nodeAt(doc.contents as Node | null, path);
    const line = node?.range ? `:${lines.linePos(node.range[0]).line}` : "";
    throw new UsageError(`${file}${line}: ${fieldName(path) || "fault profile"}: ${reason}`);
  };
  return faultProfileFrom(value ?? {}, file, fail);
}

/**
 * Keeps every `sw:` value as its text in the YAML source: plain 6E00 reads as
 * the number 6 (6e00) and 0x6F00 as 28416. Call it before `toJS`.
 */
export function statusWordsAsWritten(node: Node | Document): void {
  visit(node, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === "sw" && isScalar(pair.value) && typeof pair.value.source === "string") pair.value.value = pair.value.source;
    },
  });
}

/**
 * A fault profile from a value already read (a scenario's `faults:`):
 * `where` names it in messages, `fail` (when given) reports a mistake at its
 * place in the source instead of a UsageError naming the field.
 */
export function faultProfileFrom(value: unknown, where: string, fail?: FaultProfileFail): FaultProfile {
  const bad: FaultProfileFail = fail ?? ((path, reason) => {
    throw new UsageError(`${where}: ${fieldName(path) || "fault profile"}: ${reason}`);
  });
  const top = mapping(value, [], bad, "a fault profile is a mapping (seed, tearing, timeout, cards, faults)");
  onlyKeys(top, TOP_KEYS, [], bad);
  const profile: FaultProfile = { tearing: "atomic", rules: [] };
  if (top.seed !== undefined && top.seed !== null) {
    const s = top.seed;
    if (typeof s === "number" ? !Number.isSafeInteger(s) : typeof s !== "string" || s === "") bad(["seed"], "expected a whole number or a text");
    profile.seed = s as number | string;
  }
  if (top.tearing !== undefined && top.tearing !== null) {
    if (top.tearing !== "atomic" && top.tearing !== "non-atomic") bad(["tearing"], `expected atomic or non-atomic, got ${show(top.tearing)}`);
    profile.tearing = top.tearing;
  }
  if (top.timeout !== undefined && top.timeout !== null) profile.timeout = integer(top.timeout, ["timeout"], bad, 1, MAX_DELAY_MS);
  if (top.cards !== undefined && top.cards !== null) {
    const list = Array.isArray(top.cards) ? top.cards : [top.cards];
    profile.cards = list.map((c, i) => {
      if (typeof c !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(c)) bad(Array.isArray(top.cards) ? ["cards", i] : ["cards"], `expected a card id, got ${show(c)}`);
      return c as string;
    });
  }
  const faults = top.faults ?? [];
  if (!Array.isArray(faults)) bad(["faults"], "expected a list of faults (faults: [] for none)");
  profile.rules = (faults as unknown[]).map((f, i) => parseRule(f, ["faults", i], bad));
  return profile;
}

function parseRule(value: unknown, path: (string | number)[], bad: FaultProfileFail): FaultRule {
  const entry = mapping(value, path, bad, `a fault is a mapping with one kind (${FAULT_KINDS.join(", ")}), e.g. "- drop: { at: [3] }"`);
  const keys = Object.keys(entry);
  if (keys.length !== 1) bad(path, `a fault has exactly one kind (${FAULT_KINDS.join(", ")}), found ${keys.length === 0 ? "none" : keys.join(", ")}`);
  const kind = keys[0];
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) bad([...path, kind], `unknown fault kind (expected one of: ${FAULT_KINDS.join(", ")})`);
  const k = kind as FaultKind;
  const argsPath = [...path, k];
  const raw = entry[k] ?? {};
  const args = mapping(raw, argsPath, bad, `expected a mapping of ${[...ARG_KEYS[k], ...WHEN_KEYS].join(", ")}`);
  onlyKeys(args, [...ARG_KEYS[k], ...WHEN_KEYS], argsPath, bad);
  const at = (name: string) => [...argsPath, name];
  let fault: Fault;
  switch (k) {
    case "sw": {
      if (args.sw === undefined || args.sw === null) bad(argsPath, 'sw needs "sw", a status word of 4 hex digits (e.g. 6F00)');
      const text = typeof args.sw === "number" && Number.isInteger(args.sw) ? String(args.sw) : args.sw;
      if (typeof text !== "string" || !/^(0x)?[0-9A-Fa-f]{4}$/.test(text)) bad(at("sw"), `expected 4 hex digits (e.g. "6F00", in quotes when it reads as a number), got ${show(args.sw)}`);
      fault = { kind: "sw", sw: parseInt((text as string).replace(/^0x/, ""), 16) };
      break;
    }
    case "delay": {
      if (args.ms === undefined || args.ms === null) bad(argsPath, 'delay needs "ms", the milliseconds');
      fault = { kind: "delay", ms: integer(args.ms, at("ms"), bad, 0, MAX_DELAY_MS) };
      break;
    }
    case "tearing":
      fault = args.write === undefined || args.write === null ? { kind: "tearing" } : { kind: "tearing", write: integer(args.write, at("write"), bad, 0, 16) };
      break;
    default:
      fault = { kind: k };
  }
  const rule: FaultRule = { fault };
  if (args.at !== undefined && args.at !== null) {
    const list = Array.isArray(args.at) ? args.at : [args.at];
    if (list.length === 0) bad(at("at"), "expected exchange numbers (e.g. [0, 3])");
    rule.at = list.map((n, i) => integer(n, Array.isArray(args.at) ? [...at("at"), i] : at("at"), bad, 0, Number.MAX_SAFE_INTEGER));
  }
  if (args.rate !== undefined && args.rate !== null) {
    if (typeof args.rate !== "number" || !(args.rate >= 0 && args.rate <= 1)) bad(at("rate"), `expected a probability 0..1, got ${show(args.rate)}`);
    rule.rate = args.rate as number;
  }
  if (rule.at === undefined && rule.rate === undefined) bad(argsPath, `${k} needs "at" (exchange numbers) or "rate" (a probability)`);
  if (args.ins !== undefined && args.ins !== null) {
    const list = Array.isArray(args.ins) ? args.ins : [args.ins];
    if (list.length === 0) bad(at("ins"), "expected instructions (e.g. [PUT DATA, 0x47])");
    rule.ins = list.map((v, i) => instruction(v, Array.isArray(args.ins) ? [...at("ins"), i] : at("ins"), bad));
  }
  return rule;
}

/** An instruction by name (PUT DATA), hex text (DB, 0xDB) or number (0xDB in YAML is 219). */
function instruction(v: unknown, path: (string | number)[], bad: FaultProfileFail): number {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) bad(path, `expected an instruction byte 0..255, got ${v}`);
    return v;
  }
  if (typeof v === "string") {
    const name = v.trim().toUpperCase().replace(/[\s_-]+/g, " ");
    const known = insByName(name) ?? ALIASES[name];
    if (known !== undefined) return known;
    const hex = /^(?:0X)?([0-9A-F]{2})$/.exec(name);
    if (hex) return parseInt(hex[1], 16);
  }
  bad(path, `unknown instruction ${show(v)} (a name: ${NAMES}; or a hex byte such as DB)`);
}

function integer(v: unknown, path: (string | number)[], bad: FaultProfileFail, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(path, `expected a whole number ${min}..${max}, got ${show(v)}`);
  return v as number;
}

function mapping(v: unknown, path: (string | number)[], bad: FaultProfileFail, reason: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Map || v instanceof Set || v instanceof Date) bad(path, reason);
  return v as Record<string, unknown>;
}

function onlyKeys(m: Record<string, unknown>, allowed: readonly string[], path: (string | number)[], bad: FaultProfileFail): void {
  for (const k of Object.keys(m)) if (!allowed.includes(k)) bad([...path, k], `unknown field (expected one of: ${allowed.join(", ")})`);
}

/** A value in a message: short, and never more than a line. */
function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** faults[2].sw.sw */
function fieldName(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

/** The YAML node at a field path, or the deepest one that exists on the way. */
function nodeAt(root: Node | null, path: readonly (string | number)[]): Node | null {
  let node = root;
  for (const p of path) {
    let next: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((it) => String((it.key as { value?: unknown } | null)?.value) === String(p));
      next = ((pair?.value ?? pair?.key) as Node | null) ?? null;
    } else if (isSeq(node) && typeof p === "number") {
      next = (node.items[p] as Node | null) ?? null;
    }
    if (next === null) return node;
    node = next;
  }
  return node;
}

export interface ApplyFaultsOptions {
  /** Receives an `apdu.fault` event per injected fault. */
  bus?: EventBus;
  /** The emulated card (a TearingCard): needed when the profile tears. */
  tear?: Tearable;
  /** The rate draws; default: a SeededRandom of the profile's seed (0 without one). */
  random?: Random;
}

/** The plan a profile makes, for a card-side server (`card serve --faults`). */
export function faultPlanOf(profile: FaultProfile, random?: Random): FaultPlan {
  return new FaultPlan(profile.rules, random ?? new SeededRandom(profile.seed ?? 0));
}

/**
 * `reader` with the profile's faults. A profile that tears needs `tear`
 * (an emulated card): without one it is a UsageError.
 */
export function applyFaults(reader: Reader, profile: FaultProfile, opts: ApplyFaultsOptions = {}): FaultyReader {
  return new FaultyReader(reader, faultPlanOf(profile, opts.random), undefined, { bus: opts.bus, tear: opts.tear, timeoutMs: profile.timeout });
}

/** The rate draws of one reader in a run: the profile's seed or else the run's, a stream of its own per card. */
export function faultRandom(profile: FaultProfile, runSeed: number | string, label: string): SeededRandom {
  return new SeededRandom(profile.seed ?? runSeed).fork(`faults:${label}`);
}
