/** APDU traces: the format, importing field logs, folding, replay, rebuilding a card from a trace, recording. */
export * from "./types.js";
// import and format (format.ts, fold.ts, import.ts, importers): exports below this line
export { parseTrace, readTrace, formatTrace, writeTrace } from "./format.js";
export { foldExchanges } from "./fold.js";
export { TraceWriter } from "./recorder.js";
export { importTrace, detectFormat, type ImportOptions, type ImportResult } from "./import.js";
// replay (replay.ts, compare.ts, decode.ts): exports below this line
export { replayTrace, replaySteps, checkReplayable, traceReaders, type ReplayOptions, type ReplayReport, type ReplayedExchange, type ReplayedAnswer } from "./replay.js";
export { compareExchange, volatileKind, CertificateBook, type Comparison, type Verdict, type Answer as ReplayAnswer } from "./compare.js";
export { describeCommand, describeSw, diffAnswers, insName, objectName, tagName, dataObjectTag, type TlvDifference } from "./decode.js";
export { ManagementAuthHost, isManagementAuth } from "./management-auth.js";
export { certificateInObject, slotOfCertificateObject } from "./piv-objects.js";
// card from a trace and recording (card-from-trace.ts, recorder.ts): exports below this line
export { cardFromTrace, UnusableTrace, type CardFromTraceOptions, type CardFromTraceReport } from "./card-from-trace.js";
