import { CryptoRandom, type Random } from "../../core/index.js";
import type { Card } from "./card.js";
import { PivCard } from "./piv-card.js";
import type { CardStore, PivCardState } from "./piv-state.js";
import { stateFromJson, stateToJson, type PivCardJson } from "./state-json.js";
import type { TearOutcome, TearPoint } from "./tearing-types.js";

export type { TearOutcome, TearPoint, Tearable } from "./tearing-types.js";

/**
 * The card model for power loss during a write ("tearing"). A TearingCard is
 * a PivCard plus what its memory persistently holds (the last saved state, as
 * the card file's JSON). Every write the card makes goes through its own
 * CardStore, which keeps that copy and passes it on to a real store (a card
 * file) when there is one. `tearDuring` runs a command and cuts the power at
 * one of its writes; what the memory then holds depends on the model:
 *
 * - "atomic" (the default): a write is a transaction, as a real card's
 *   transaction mechanism promises (Java Card's commit/rollback, EEPROM
 *   page buffers) and as the emulated card's file store does (write, fsync,
 *   rename). A tear before the commit point leaves the old state whole; one
 *   just after it, the new state whole. The default tear strikes before the
 *   commit: a tear after it would be indistinguishable from a lost answer
 *   (the `lose-answer` fault), so it is only asked for (`afterCommit`).
 * - "non-atomic": a card without that promise writes field after field, byte
 *   after byte, and the power goes half-way through (`fraction`, 0.5 by
 *   default): an object half new, half old; a PIN's first bytes changed; a
 *   key slot erased before the new key is in it.
 *
 * The card counts a PIN or PUK try in a write of its own before it compares
 * (piv-applet.ts verify): a tear at that write stops the command before the
 * comparison, and a tear at any later point finds the try counted. So a tear
 * never gives a free PIN try.
 *
 * After the tear the card has no power: its session (PIN verified,
 * management key authenticated, command chain) is gone and its RAM state is
 * reloaded from the persisted memory at the next power-on. A persisted
 * memory the card cannot read any more leaves it answering 6581 (memory
 * failure) to everything.
 */
export type TearingModel = "atomic" | "non-atomic";

export interface TearingCardOptions {
  model?: TearingModel;
  /** The real store behind the card's memory (a card file): it gets every write, torn ones as they were left. */
  store?: CardStore;
  /** The card's randomness (challenges), kept across power cycles. */
  random?: Random;
  /** Non-atomic: how much of a torn write reaches the memory, 0..1. */
  fraction?: number;
}

/** What the store throws at the torn write: the card's code after it never runs. */
class PowerLost extends Error {}

/** A card whose memory could not be read back after a tear: it answers "memory failure" to everything. */
const MUTE: Card = {
  powerOn: () => Uint8Array.of(0x3b, 0x00),
  transmit: () => Uint8Array.of(0x65, 0x81),
  powerOff: () => undefined,
};

export class TearingCard implements Card {
  readonly model: TearingModel;
  private persisted: PivCardJson;
  private inner: PivCard | undefined;
  private needsReload = false;
  private readonly random: Random;
  private readonly chained?: CardStore;
  private readonly fraction: number;
  /** While tearDuring runs: which write to tear, and how many the command has made. */
  private armed?: { write: number; afterCommit: boolean; seen: number; outcome?: TearOutcome; before: PivCardJson };
  private readonly store: CardStore = { save: (state) => this.save(state) };

  constructor(state: PivCardState, opts: TearingCardOptions = {}) {
    this.model = opts.model ?? "atomic";
    this.random = opts.random ?? new CryptoRandom();
    this.chained = opts.store;
    this.fraction = opts.fraction ?? 0.5;
    if (!(this.fraction >= 0 && this.fraction <= 1)) throw new RangeError(`tearing fraction must be 0..1, got ${opts.fraction}`);
    this.persisted = stateToJson(state);
    this.inner = new PivCard(state, this.random, this.store);
  }

  /** The card a PivCard's JSON describes (a card file's content). */
  static fromJSON(json: unknown, opts: TearingCardOptions = {}): TearingCard {
    return new TearingCard(stateFromJson(json), opts);
  }

  /** What the card's persistent memory holds: the card file's content (secrets included: never log it). */
  get memory(): PivCardJson {
    return structuredClone(this.persisted);
  }

  /** The card as it runs now (its RAM state), undefined when its memory is unreadable. */
  get card(): PivCard | undefined {
    this.reloadIfTorn();
    return this.inner;
  }

  powerOn(): Uint8Array {
    this.reloadIfTorn();
    return (this.inner ?? MUTE).powerOn();
  }

  /** A command sent without a power-on after a tear meets the card as a power-on leaves it. */
  transmit(command: Uint8Array): Uint8Array {
    this.reloadIfTorn();
    return (this.inner ?? MUTE).transmit(command);
  }

  powerOff(): void {
    this.inner?.powerOff();
  }

  /**
   * Runs `command` and cuts the power at its `point.write`-th write (the
   * first by default). The answer is lost whatever happens; a command that
   * writes less than that loses only its answer (`wrote` says whether it
   * wrote at all). The card is unpowered afterwards.
   */
  tearDuring(command: Uint8Array, point: TearPoint = {}): TearOutcome {
    const write = point.write ?? 0;
    if (!Number.isInteger(write) || write < 0) throw new RangeError(`tear point must be a write number >= 0, got ${write}`);
    const before = this.persisted;
    const armed: NonNullable<TearingCard["armed"]> = { write, afterCommit: point.afterCommit ?? false, seen: 0, before };
    this.armed = armed;
    try {
      this.reloadIfTorn();
      // The answer (6581 when the tear stopped the command) never leaves the card.
      (this.inner ?? MUTE).transmit(command);
    } finally {
      this.armed = undefined;
      this.needsReload = true;
      this.inner?.powerOff();
      this.inner = undefined;
    }
    // Fewer writes than the tear point: the power went after the command, before its answer.
    return armed.outcome ?? { wrote: armed.seen > 0, persisted: armed.seen > 0 ? "new" : "old", ...fieldsOf(before, this.persisted) };
  }

  private reloadIfTorn(): void {
    if (!this.needsReload) return;
    this.needsReload = false;
    try {
      this.inner = new PivCard(stateFromJson(this.persisted), this.random, this.store);
    } catch {
      // Unreadable memory: MUTE. A guard, not reached today: writeUnits keeps every field readable (a byte
      // string keeps its length, the management key and its algorithm change together when its length does,
      // a key slot is erased or whole, counters are clamped on reading), and a store that refuses a write
      // leaves the old memory. The non-atomic property in tearing.test.ts checks that it stays so.
      this.inner = undefined;
    }
  }

  /** The card's CardStore: every write passes here. */
  private save(state: PivCardState): void {
    const next = stateToJson(state);
    const armed = this.armed;
    if (armed === undefined || armed.seen++ !== armed.write) {
      this.commit(next);
      return;
    }
    const old = this.persisted;
    let kept: PivCardJson;
    let persisted: TearOutcome["persisted"];
    if (this.model === "atomic") {
      kept = armed.afterCommit ? next : old;
      persisted = armed.afterCommit ? "new" : "old";
    } else {
      const units = writeUnits(old, next);
      const cut = Math.floor(units.length * this.fraction);
      kept = structuredClone(old);
      for (const u of units.slice(0, cut)) u(kept);
      persisted = cut === 0 ? "old" : cut === units.length ? "new" : "partial";
    }
    try {
      if (kept !== old) this.commit(kept);
    } catch {
      // the real store could not take it (a full disk): the memory kept what it had
      persisted = "old";
    }
    armed.outcome = { wrote: true, persisted, ...fieldsOf(armed.before, this.persisted) };
    throw new PowerLost("the card lost power during a write");
  }

  private commit(json: PivCardJson): void {
    if (this.chained !== undefined) this.chained.save(stateFromJson(json));
    this.persisted = json;
  }
}

/** `fields`: names of what differs between two memories (never values). */
function fieldsOf(a: PivCardJson, b: PivCardJson): { fields?: string[] } {
  const out: string[] = [];
  for (const k of SCALARS) if (a[k] !== b[k]) out.push(k);
  for (const t of union(a.objects, b.objects)) if (a.objects[t] !== b.objects[t]) out.push(`objects.${t}`);
  for (const s of union(a.keys, b.keys)) if (a.keys[s]?.pkcs8 !== b.keys[s]?.pkcs8 || a.keys[s]?.alg !== b.keys[s]?.alg) out.push(`keys.${s}`);
  return out.length > 0 ? { fields: out } : {};
}

/** The card file's single-valued fields. Not `atr` nor `firmware`: no instruction writes them (were one to, add them here). */
const SCALARS = ["serial", "expires", "pin", "puk", "pinRetries", "pukRetries", "pinLeft", "pukLeft", "managementAlg", "managementKey"] as const;

function union(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

type Unit = (memory: PivCardJson) => void;

/**
 * A write as a card without transactions makes it, in order: each changed
 * field (in the card file's order), a byte string byte by byte from its
 * start, a counter or an algorithm in one step; an object byte by byte into
 * its new length (bytes not yet written keep the old object's, or FF, erased
 * memory); a key slot erased, then written. The management key and its
 * algorithm go together when the key's length changes (the memory for it is
 * allocated anew), so a torn memory always reads back as a card.
 */
function writeUnits(old: PivCardJson, next: PivCardJson): Unit[] {
  const units: Unit[] = [];
  const keyResized = old.managementKey.length !== next.managementKey.length;
  for (const k of SCALARS) {
    if (old[k] === next[k]) continue;
    if (keyResized && (k === "managementAlg" || k === "managementKey")) {
      if (k === "managementAlg") units.push((m) => ((m.managementAlg = next.managementAlg), (m.managementKey = next.managementKey)));
      continue;
    }
    if ((k === "pin" || k === "puk" || k === "managementKey") && old[k].length === next[k].length) {
      for (let i = 0; i < next[k].length; i += 2) units.push((m) => (m[k] = m[k].slice(0, i) + next[k].slice(i, i + 2) + m[k].slice(i + 2)));
      continue;
    }
    units.push((m) => Object.assign(m, { [k]: next[k] }));
  }
  for (const tag of union(old.objects, next.objects)) {
    const was = old.objects[tag];
    const now = next.objects[tag];
    if (was === now) continue;
    if (now === undefined) {
      units.push((m) => delete m.objects[tag]);
      continue;
    }
    const newBytes = Buffer.from(now, "base64");
    const oldBytes = was === undefined ? undefined : Buffer.from(was, "base64");
    for (let i = 1; i <= newBytes.length; i++) {
      units.push((m) => {
        const b = Buffer.alloc(newBytes.length, 0xff);
        if (oldBytes) oldBytes.copy(b, 0, 0, Math.min(oldBytes.length, newBytes.length));
        newBytes.copy(b, 0, 0, i);
        m.objects[tag] = b.toString("base64");
      });
    }
  }
  for (const slot of union(old.keys, next.keys)) {
    const was = old.keys[slot];
    const now = next.keys[slot];
    if (was?.pkcs8 === now?.pkcs8 && was?.alg === now?.alg) continue;
    if (was !== undefined) units.push((m) => delete m.keys[slot]);
    if (now !== undefined) units.push((m) => (m.keys[slot] = { ...now }));
  }
  return units;
}
