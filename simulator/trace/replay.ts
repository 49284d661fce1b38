import { CLA_CHAINING, UsageError, concatBytes, encodeCommand, fromHex, secretKindOf, swHex, toHex, tryDecodeCommand } from "../../core/index.js";
import { ReaderError, type Reader } from "../reader/index.js";
import { CertificateBook, compareExchange, type Verdict } from "./compare.js";
import { describeCommand, describeSw, type TlvDifference } from "./decode.js";
import { foldExchanges } from "./fold.js";
import { ManagementAuthHost, isManagementAuth, managementKeyFits } from "./management-auth.js";
import type { LogicalExchange, ReaderEventKind, Trace, TraceReaderEvent } from "./types.js";

/**
 * Replays a trace against a card: each logical command in order, the card's
 * answer gathered whole (its own 61xx and 6Cxx followed, not the recorded
 * Le), compared with the recorded answer (compare.ts). Secrets the trace
 * masked are put back from what the user gave: the PIN and PUK into VERIFY,
 * CHANGE REFERENCE DATA and RESET RETRY COUNTER, and the management-key
 * authentication worked out again with the key. A masked PIN the user did
 * not give stops the replay before anything is sent: sending the FF bytes
 * would cost a PIN try.
 */

export interface ReplayOptions {
  pin?: string;
  puk?: string;
  /** Default: the well-known test key 010203..08 (3DES). */
  managementKey?: Uint8Array;
  /** Go on after a divergence (default: stop at the first). */
  keepGoing?: boolean;
  /** For a trace naming several readers: replay only this reader's entries (required then). */
  traceReader?: string;
  /** Told each exchange (and reader event) as it is done. */
  onExchange?(r: ReplayedExchange): void;
}

export interface ReplayedAnswer {
  /** Response data, upper-case hex (a management-key proof is shown FF, as the trace masks it). */
  response: string;
  sw: string;
}

export interface ReplayedExchange {
  /** Position among the replayed steps, from 1. */
  index: number;
  /** The trace entry it started at, and the imported file's line when known. */
  seq: number;
  line?: number;
  kind: "apdu" | "event";
  /** The command as recorded (secrets masked), upper-case hex; for an event, its kind. */
  command: string;
  event?: ReaderEventKind;
  /** "VERIFY (CLA 00 INS 20 P1 00 P2 80): PIV PIN". */
  description: string;
  recorded: ReplayedAnswer;
  replayed: ReplayedAnswer;
  /** The status words decoded: "63C2 (verification failed, 2 tries left)". */
  recordedSw: string;
  replayedSw: string;
  verdict: Verdict;
  reason?: string;
  difference?: TlvDifference;
  masked?: string;
}

export interface ReplayReport {
  /** Logical exchanges and reader events in the trace. */
  steps: number;
  /** How many were done (all, unless the replay stopped at a divergence). */
  replayed: number;
  same: number;
  equivalent: number;
  diverged: number;
  outcome: "same" | "diverged";
  /** Set when the replay stopped because the card could not be connected again (a card pulled), --keep-going or not. */
  cardUnreachable?: boolean;
  divergences: ReplayedExchange[];
}

type Step = { kind: "apdu"; x: LogicalExchange } | { kind: "event"; e: TraceReaderEvent };

const DEFAULT_MANAGEMENT_KEY = fromHex("010203040506070801020304050607080102030405060708");
const MAX_GET_RESPONSES = 300;

/** The readers a trace's entries name, in order of first appearance. */
export function traceReaders(trace: Trace): string[] {
  const names = new Set<string>();
  for (const e of trace.entries) if (e.reader !== undefined) names.add(e.reader);
  if (names.size === 0 && trace.header.reader !== undefined) names.add(trace.header.reader);
  return [...names];
}

/**
 * The entries a replay sends: all of them for a one-reader trace; for a trace
 * naming several readers only those of `traceReader`, which is then required
 * (exchanges of two cards sent to one would diverge for no reason of theirs).
 */
function entriesFor(trace: Trace, traceReader: string | undefined): Trace["entries"] {
  const readers = traceReaders(trace);
  if (traceReader !== undefined) {
    if (!readers.includes(traceReader)) {
      throw new UsageError(`--trace-reader "${traceReader}" is not in the trace (it names ${readers.length === 0 ? "no reader" : readers.map((r) => `"${r}"`).join(", ")})`);
    }
    if (readers.length <= 1) return trace.entries;
    return trace.entries.filter((e) => e.reader === traceReader);
  }
  if (readers.length > 1) throw new UsageError(`the trace names ${readers.length} readers (${readers.map((r) => `"${r}"`).join(", ")}): pick one with --trace-reader NAME`);
  return trace.entries;
}

/** The steps of a trace: logical exchanges and reader events, in trace order (one reader's, see `entriesFor`). */
export function replaySteps(trace: Trace, traceReader?: string): Step[] {
  const entries = entriesFor(trace, traceReader);
  const steps: Step[] = foldExchanges(entries).map((x) => ({ kind: "apdu", x }));
  for (const e of entries) if (e.type === "event") steps.push({ kind: "event", e });
  return steps.sort((a, b) => seqOf(a) - seqOf(b));
}

const seqOf = (s: Step) => (s.kind === "apdu" ? s.x.seq : s.e.seq);

/**
 * What a trace needs from the user before it can be replayed (a masked PIN
 * needs --pin, ...); throws UsageError naming the first gap, touching nothing.
 */
export function checkReplayable(trace: Trace, opts: Pick<ReplayOptions, "pin" | "puk" | "managementKey" | "traceReader">): void {
  const key = opts.managementKey ?? DEFAULT_MANAGEMENT_KEY;
  for (const s of replaySteps(trace, opts.traceReader)) {
    if (s.kind !== "apdu") continue;
    if (isManagementAuth(s.x.command) && !managementKeyFits(s.x.command[2], key)) {
      throw new UsageError(`the trace authenticates with the management key by algorithm ${s.x.command[2].toString(16).padStart(2, "0").toUpperCase()} (entry ${s.x.seq}): --management-key has ${key.length} bytes, not what it needs`);
    }
    const need = secretsNeeded(s.x);
    const where = s.x.line !== undefined ? ` (line ${s.x.line})` : ` (entry ${s.x.seq})`;
    if (need.pin && opts.pin === undefined) throw new UsageError(`the trace masked a PIN${where}: give --pin`);
    if (need.puk && opts.puk === undefined) throw new UsageError(`the trace masked a PUK${where}: give --puk`);
    if (need.unknown) throw new UsageError(`the trace masked a ${need.unknown}${where} that a replay cannot put back`);
  }
  for (const [what, value] of [["PIN", opts.pin], ["PUK", opts.puk]] as const) {
    if (value !== undefined) referenceBytes(value, what);
  }
}

/** Replays `trace` on `reader` (connected here). Throws UsageError for unusable input before sending anything. */
export async function replayTrace(trace: Trace, reader: Reader, opts: ReplayOptions = {}): Promise<ReplayReport> {
  checkReplayable(trace, opts);
  const steps = replaySteps(trace, opts.traceReader);
  const book = new CertificateBook();
  const auth = new ManagementAuthHost(opts.managementKey ?? DEFAULT_MANAGEMENT_KEY);
  const report: ReplayReport = { steps: steps.length, replayed: 0, same: 0, equivalent: 0, diverged: 0, outcome: "same", divergences: [] };
  let connected = false;
  /** The ATR of the card's power-up, for an insert or power-on the trace shows while the card is already on. */
  let atr: Uint8Array | undefined;
  const ensureConnected = async () => {
    if (!connected) atr = await reader.connect();
    connected = true;
  };
  await ensureConnected();
  for (const step of steps) {
    let r: ReplayedExchange;
    /** A card that cannot be reached any more: nothing after this step can be replayed. */
    let unreachable: ReaderError | undefined;
    try {
      if (step.kind === "apdu") await ensureConnected();
    } catch (err) {
      if (!(err instanceof ReaderError)) throw err;
      unreachable = err;
    }
    try {
      if (unreachable !== undefined) throw new ReaderError(`cannot connect again: ${unreachable.message}`);
      r = step.kind === "apdu" ? await replayExchange(step.x, reader, opts, book, auth) : await replayEvent(step.e, reader, connected, atr);
      if (step.kind === "event") {
        connected = step.e.event !== "remove" && step.e.event !== "power-off";
        atr = r.replayed.response === "" ? atr : fromHex(r.replayed.response);
      }
    } catch (err) {
      // The card or reader failed mid-exchange (a fault, a card pulled): the card did not answer as recorded, a divergence.
      if (!(err instanceof ReaderError)) throw err;
      r = transmissionFailed(step, err);
      connected = false;
    }
    r.index = ++report.replayed;
    report[r.verdict]++;
    opts.onExchange?.(r);
    if (r.verdict === "diverged") {
      report.outcome = "diverged";
      report.divergences.push(r);
      if (unreachable !== undefined) report.cardUnreachable = true;
      if (!opts.keepGoing || unreachable !== undefined) break;
    }
  }
  return report;
}

/** The step as a divergence: the reader or card failed, so there is no answer. The message names the fault, never a secret. */
function transmissionFailed(step: Step, err: ReaderError): ReplayedExchange {
  const r: ReplayedExchange =
    step.kind === "apdu"
      ? {
          index: 0,
          seq: step.x.seq,
          kind: "apdu",
          command: toHex(step.x.command).toUpperCase(),
          description: describeCommand(step.x.command),
          recorded: { response: isManagementAuth(step.x.command) ? "FF".repeat(step.x.response.length) : toHex(step.x.response).toUpperCase(), sw: swHex(step.x.sw) },
          replayed: { response: "", sw: "" },
          recordedSw: describeSw(step.x.sw),
          replayedSw: "no answer",
          verdict: "diverged",
        }
      : {
          index: 0,
          seq: step.e.seq,
          kind: "event",
          command: step.e.event,
          event: step.e.event,
          description: `reader event: ${step.e.event}`,
          recorded: { response: step.e.atr ?? "", sw: "" },
          replayed: { response: "", sw: "" },
          recordedSw: "",
          replayedSw: "no answer",
          verdict: "diverged",
        };
  const line = step.kind === "apdu" ? step.x.line : step.e.line;
  if (line !== undefined) r.line = line;
  if (step.kind === "apdu" && step.x.masked !== undefined) r.masked = step.x.masked;
  r.reason = `transmission failed: ${err.message}`;
  return r;
}

async function replayEvent(e: TraceReaderEvent, reader: Reader, connected: boolean, currentAtr: Uint8Array | undefined): Promise<ReplayedExchange> {
  let atr: Uint8Array | undefined;
  if (e.event === "reset") atr = connected ? await reader.reset() : await reader.connect();
  else if (e.event === "insert" || e.event === "power-on") atr = connected ? currentAtr : await reader.connect();
  else if ((e.event === "remove" || e.event === "power-off") && connected) await reader.disconnect();
  const recordedAtr = e.atr ?? "";
  const replayedAtr = atr === undefined ? "" : toHex(atr).toUpperCase();
  // An ATR is compared only where both are known (a log may name none).
  const diverged = recordedAtr !== "" && replayedAtr !== "" && recordedAtr !== replayedAtr;
  const r: ReplayedExchange = {
    index: 0,
    seq: e.seq,
    kind: "event",
    command: e.event,
    event: e.event,
    description: `reader event: ${e.event}`,
    recorded: { response: recordedAtr, sw: "" },
    replayed: { response: replayedAtr, sw: "" },
    recordedSw: "",
    replayedSw: "",
    verdict: diverged ? "diverged" : "same",
  };
  if (e.line !== undefined) r.line = e.line;
  if (diverged) r.reason = "the ATR differs";
  return r;
}

async function replayExchange(x: LogicalExchange, reader: Reader, opts: ReplayOptions, book: CertificateBook, auth: ManagementAuthHost): Promise<ReplayedExchange> {
  const recordedCommand = x.command;
  const mgm = isManagementAuth(recordedCommand);
  const { chain, last } = transportParts(x);
  let answer: { response: Uint8Array; sw: number } | undefined;
  for (const part of chain) {
    const res = await reader.transmit(part);
    const sw = swOf(res);
    if (sw !== 0x9000) {
      answer = { response: res.subarray(0, res.length - 2), sw };
      break;
    }
  }
  let authProblem: string | undefined;
  if (answer === undefined) {
    const toSend = mgm ? auth.rewrite(last) : withSecrets(last, x, opts);
    // A host that left a 61xx unanswered (a probe of the first bytes) is followed as far as it went, no further.
    const probe = x.sw >> 8 === 0x61;
    const limit = probe ? x.parts.filter((p) => p.command.slice(2, 4) === "C0").length : MAX_GET_RESPONSES;
    answer = await exchangeWhole(reader, toSend, limit);
    if (mgm) authProblem = auth.observe(toSend, answer.response, answer.sw);
  }
  const recorded = { response: x.response, sw: x.sw };
  book.note(recordedCommand, recorded);
  const c = compareExchange(recordedCommand, recorded, answer, book);
  const verdict: Verdict = authProblem !== undefined ? "diverged" : c.verdict;
  const show = (b: Uint8Array) => (mgm ? "FF".repeat(b.length) : toHex(b).toUpperCase());
  const r: ReplayedExchange = {
    index: 0,
    seq: x.seq,
    kind: "apdu",
    command: toHex(recordedCommand).toUpperCase(),
    description: describeCommand(recordedCommand),
    recorded: { response: mgm ? show(x.response) : toHex(x.response).toUpperCase(), sw: swHex(x.sw) },
    replayed: { response: show(answer.response), sw: swHex(answer.sw) },
    recordedSw: describeSw(x.sw),
    replayedSw: describeSw(answer.sw),
    verdict,
  };
  if (x.line !== undefined) r.line = x.line;
  if (x.masked !== undefined) r.masked = x.masked;
  const reason = authProblem ?? c.reason;
  if (reason !== undefined) r.reason = reason;
  if (c.difference !== undefined) r.difference = c.difference;
  return r;
}

/**
 * What to send for a logical exchange: the chained parts as the trace sent
 * them, then the last part (its re-send, when the card asked for another Le);
 * GET RESPONSEs are not sent from the trace but asked as the card says.
 */
function transportParts(x: LogicalExchange): { chain: Uint8Array[]; last: Uint8Array } {
  const commands = x.parts.map((p) => fromHex(p.command)).filter((c) => c.length < 4 || c[1] !== 0xc0);
  const chained = commands.filter((c) => c.length >= 4 && (c[0] & CLA_CHAINING) !== 0);
  if (chained.length === 0) return { chain: [], last: x.command };
  const finals = commands.filter((c) => c.length < 4 || (c[0] & CLA_CHAINING) === 0);
  return { chain: chained, last: finals.length > 0 ? finals[finals.length - 1] : chained.pop()! };
}

/** Sends one command and gathers the whole answer: the card's 61xx followed with GET RESPONSE (at most `maxGetResponses`), 6Cxx re-sent with the Le the card names. */
async function exchangeWhole(reader: Reader, command: Uint8Array, maxGetResponses: number): Promise<{ response: Uint8Array; sw: number }> {
  let res = await reader.transmit(command);
  let sw = swOf(res);
  if (sw >> 8 === 0x6c) {
    const again = withLe(command, sw & 0xff || 256);
    if (again !== undefined) {
      res = await reader.transmit(again);
      sw = swOf(res);
    }
  }
  const chunks = [res.subarray(0, res.length - 2)];
  const channel = command.length > 0 ? command[0] & 0x03 : 0;
  for (let i = 0; sw >> 8 === 0x61 && i < maxGetResponses; i++) {
    res = await reader.transmit(Uint8Array.of(channel, 0xc0, 0x00, 0x00, sw & 0xff));
    sw = swOf(res);
    chunks.push(res.subarray(0, res.length - 2));
  }
  return { response: concatBytes(...chunks), sw };
}

function withLe(command: Uint8Array, le: number): Uint8Array | undefined {
  const cmd = tryDecodeCommand(command);
  if (cmd === undefined) return undefined;
  return encodeCommand({ ...cmd, le, extended: false });
}

function swOf(res: Uint8Array): number {
  return res.length < 2 ? 0x6f00 : (res[res.length - 2] << 8) | res[res.length - 1];
}

interface SecretsNeeded {
  pin: boolean;
  puk: boolean;
  unknown?: string;
}

/** Whether the exchange's command carries masked bytes, and which secrets put them back. */
function secretsNeeded(x: LogicalExchange): SecretsNeeded {
  const cmd = tryDecodeCommand(x.command);
  if (cmd === undefined || cmd.data.length === 0) return { pin: false, puk: false };
  const masked = x.masked !== undefined || cmd.data.every((b) => b === 0xff);
  if (!masked) return { pin: false, puk: false };
  switch (cmd.ins) {
    case 0x20:
    case 0x24:
      // Which reference (PIN or PUK) the P2 names: core's masking rule, so the two never disagree.
      return secretKindOf(x.command) === "puk" ? { pin: false, puk: true } : { pin: true, puk: false };
    case 0x2c:
      return { pin: true, puk: true };
    case 0x87:
      // The management-key steps are worked out again (management-auth.ts); other keys' data is not secret.
      return { pin: false, puk: false };
    case 0xfe:
      return { pin: false, puk: false, unknown: "private key (IMPORT ASYMMETRIC KEY)" };
    case 0xff:
      return { pin: false, puk: false, unknown: "management key (SET MANAGEMENT KEY)" };
    default:
      return x.masked !== undefined ? { pin: false, puk: false, unknown: `${x.masked} (INS ${cmd.ins.toString(16).toUpperCase()})` } : { pin: false, puk: false };
  }
}

/**
 * The command with the user's PIN / PUK where the trace masked them. A
 * change keeps the value (old = new): the trace's new PIN is not known, and
 * what follows in the trace verifies with the masked one, which we fill the
 * same way.
 */
function withSecrets(command: Uint8Array, x: LogicalExchange, opts: ReplayOptions): Uint8Array {
  const need = secretsNeeded({ ...x, command });
  if (!need.pin && !need.puk) return command;
  const cmd = tryDecodeCommand(command)!;
  const pin = opts.pin === undefined ? undefined : referenceBytes(opts.pin, "PIN");
  const puk = opts.puk === undefined ? undefined : referenceBytes(opts.puk, "PUK");
  const isPuk = secretKindOf(command) === "puk";
  let data: Uint8Array;
  if (cmd.ins === 0x20) data = isPuk ? puk! : pin!;
  else if (cmd.ins === 0x24) data = isPuk ? concatBytes(puk!, puk!) : concatBytes(pin!, pin!);
  else data = concatBytes(puk!, pin!);
  return encodeCommand({ ...cmd, data });
}

/**
 * A PIN or PUK as a host sends it on the wire: the characters, FF-padded to
 * 8. Looser than the card's rule for setting one (piv-state's padReference,
 * 6 to 8): a replay sends what the user gives and lets the card judge it, as
 * the recorded host did. The message never quotes the value.
 */
function referenceBytes(value: string, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length === 0 || bytes.length > 8 || bytes.includes(0xff)) throw new UsageError(`the ${what} given must be 1 to 8 characters`);
  const out = new Uint8Array(8).fill(0xff);
  out.set(bytes, 0);
  return out;
}
