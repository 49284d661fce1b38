import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { UsageError, errorMessage } from "../core/index.js";
import {
  TRACE_FORMATS,
  describeCommand,
  describeSw,
  foldExchanges,
  importTrace,
  readTrace,
  writeTrace,
  type TraceFormat,
  type TraceReaderEvent,
} from "../simulator/trace/index.js";
import { ExitCode, action } from "./exit.js";

/**
 * `cardloop trace import FILE [--format F] --out TRACE.jsonl`: a field APDU
 * log (pcscd -a, pcsc-spy, OpenSC debug, scriptor or `cardloop apdu` output,
 * a run log) becomes a cardloop trace, secrets masked on the way in.
 * `cardloop trace show TRACE.jsonl`: the trace's logical exchanges, named.
 */
export function register(program: Command): void {
  if (program.commands.some((c) => c.name() === "trace")) return;
  const trace = program.command("trace").description("APDU traces: import a field log, show a trace");
  trace
    .command("import")
    .description("turn an APDU log (pcscd -a, pcsc-spy, OpenSC debug log, scriptor / cardloop apdu output, a run log) into a cardloop trace; PIN, PUK and key bytes are masked")
    .argument("<file>", "the log to import")
    .option("--format <format>", `the log's format (${TRACE_FORMATS.join(", ")}); detected when absent`)
    .requiredOption("--out <trace.jsonl>", "where to write the trace (JSON Lines, mode 0600)")
    .option("--force", "overwrite an existing --out file")
    .addHelpText("after", "\nPrints one line: exchanges, reader events, how many exchanges had secrets masked.\nExit status: 0 imported, 2 unreadable or unrecognised input (the message names the file and line).")
    .action(action((file: string, opts: ImportCliOptions) => runImport(file, opts)));
  trace
    .command("show")
    .description("print a trace's logical exchanges (61xx continuations and chains folded): instruction, answer length, status word and its meaning")
    .argument("<trace.jsonl>", "a cardloop trace (from `trace import` or `card serve --record`)")
    .action(action((file: string) => runShow(file)));
}

interface ImportCliOptions {
  format?: string;
  out: string;
  force?: boolean;
}

function runImport(file: string, opts: ImportCliOptions): number {
  if (opts.format !== undefined && !(TRACE_FORMATS as readonly string[]).includes(opts.format)) {
    throw new UsageError(`unknown --format "${opts.format}" (one of ${TRACE_FORMATS.join(", ")})`);
  }
  if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists (use --force to overwrite it)`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${errorMessage(err).split(":")[0]}`);
  }
  const { trace, format, masked } = importTrace(text, { format: opts.format as TraceFormat | undefined, source: file });
  writeTrace(opts.out, trace);
  const apdus = trace.entries.filter((e) => e.type === "apdu").length;
  const events = trace.entries.length - apdus;
  const logical = foldExchanges(trace.entries).length;
  process.stdout.write(
    `${opts.out}: ${apdus} exchange${apdus === 1 ? "" : "s"} (${logical} logical), ${events} reader event${events === 1 ? "" : "s"}, ${masked} masked, from ${file} (${format})\n`,
  );
  return ExitCode.Ok;
}

function runShow(file: string): number {
  const trace = readTrace(file);
  const h = trace.header;
  const out: string[] = [`# ${h.format}${h.source ? ` ${h.source}` : ""}${h.reader ? `, reader ${h.reader}` : ""}`];
  const events = trace.entries.filter((e): e is TraceReaderEvent => e.type === "event");
  let next = 0;
  for (const x of foldExchanges(trace.entries)) {
    while (next < events.length && events[next].seq < x.seq) out.push(eventLine(events[next++]));
    const parts = x.parts.length > 1 ? ` [${x.parts.length} parts]` : "";
    const masked = x.masked !== undefined ? ` [${x.masked} masked]` : "";
    const data = x.response.length > 0 ? `${x.response.length} bytes, ` : "";
    out.push(`${String(x.seq).padStart(5)}  ${describeCommand(x.command)} -> ${data}${describeSw(x.sw)}${parts}${masked}`);
  }
  while (next < events.length) out.push(eventLine(events[next++]));
  process.stdout.write(out.join("\n") + "\n");
  return ExitCode.Ok;
}

function eventLine(e: TraceReaderEvent): string {
  const atr = e.atr !== undefined ? ` ATR ${e.atr}` : "";
  return `${String(e.seq).padStart(5)}  -- ${e.event}${atr}${e.reader !== undefined ? ` (${e.reader})` : ""}`;
}

