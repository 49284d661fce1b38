/**
 * The cardloop trace: an APDU log in one format, whatever it was imported
 * from (pcscd, pcsc-spy, OpenSC, scriptor, a run log) or recorded by a relay.
 * JSON Lines: the first line is the header, then one entry per line, in the
 * order they happened. README.md in this folder is the format's reference.
 *
 * Entries are transport exchanges as the log shows them (a 61xx answer and
 * the GET RESPONSE that follows are two entries); `foldExchanges` joins them
 * into the logical exchanges a host meant, which is what replay compares and
 * what a card rebuilt from a trace answers.
 */

export const TRACE_VERSION = 1;

/** Where a trace came from. */
export type TraceFormat = "pcscd" | "pcsc-spy" | "opensc" | "scriptor" | "runlog" | "cardloop";

export const TRACE_FORMATS: readonly TraceFormat[] = ["pcscd", "pcsc-spy", "opensc", "scriptor", "runlog", "cardloop"];

/** What the masked bytes of a command (or a response) stood for. */
export type MaskedSecret = "pin" | "puk" | "management-key" | "private-key";

export interface TraceHeader {
  cardloopTrace: typeof TRACE_VERSION;
  /** The format it was imported from ("cardloop" for a recorded trace). */
  format: TraceFormat;
  /** The input's file name as given (no directories), when there was one. */
  source?: string;
  /** How many exchanges had secret bytes replaced by FF on import or record. */
  masked: number;
  /** The reader the log names, when it names one. */
  reader?: string;
}

export interface TraceApdu {
  type: "apdu";
  /** Position in the trace, from 0, over every entry. */
  seq: number;
  /** Command APDU, upper-case hex; secret bytes already FF (see `masked`). */
  command: string;
  /** Response data without the status word, upper-case hex ("" for none). */
  response: string;
  /** Status word, 4 upper-case hex digits. */
  sw: string;
  /** Set when bytes of this exchange were masked: what they were. */
  masked?: MaskedSecret;
  /** Time the exchange took, when the log says. */
  micros?: number;
  /** Milliseconds since the trace's first entry, when the log has timestamps. */
  atMs?: number;
  /** The reader, when the log names several. */
  reader?: string;
  /** Line in the imported file where this exchange starts (for messages). */
  line?: number;
}

export type ReaderEventKind = "insert" | "remove" | "reset" | "power-on" | "power-off";

export interface TraceReaderEvent {
  type: "event";
  seq: number;
  event: ReaderEventKind;
  /** The ATR, upper-case hex, for insert / reset / power-on when known. */
  atr?: string;
  atMs?: number;
  reader?: string;
  line?: number;
}

export type TraceEntry = TraceApdu | TraceReaderEvent;

export interface Trace {
  header: TraceHeader;
  entries: TraceEntry[];
}

/**
 * One exchange as the host meant it: a command (chained parts joined, CLA
 * chaining bit cleared) and its whole answer (61xx / GET RESPONSE
 * continuations joined), from `foldExchanges`.
 */
export interface LogicalExchange {
  /** The `seq` of its first transport entry. */
  seq: number;
  /** Every transport entry it was folded from, in order. */
  parts: TraceApdu[];
  /** The logical command (for a chain: first header, all data). */
  command: Uint8Array;
  /** The whole response data, without the status word. */
  response: Uint8Array;
  /** The final status word. */
  sw: number;
  masked?: MaskedSecret;
  line?: number;
}
