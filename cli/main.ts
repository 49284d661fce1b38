import { Command, CommanderError } from "commander";
import { keepPcscContextUntilExit } from "../simulator/reader/index.js";
import { ExitCode, exitWith, signalExitCode } from "./exit.js";
import { CARDLOOP_VERSION, errorMessage } from "../core/index.js";

/**
 * One file per subcommand; each exports `register(program)`. Only the modules of
 * the command being run are loaded, so `cardloop apdu` does not pay for the
 * CA's SQLite or the validator (start-up is most of a short run's time).
 */
type CommandModule = { register(program: Command): void };
const COMMANDS: Record<string, Array<() => Promise<CommandModule>>> = {
  validate: [() => import("./validate.js")],
  ca: [() => import("./ca.js")],
  card: [() => import("./card.js"), () => import("./card-serve.js"), () => import("./card-from-trace.js")],
  apdu: [() => import("./apdu.js")],
  trace: [() => import("./trace.js")],
  replay: [() => import("./replay.js")],
  explore: [() => import("./explore.js")],
  run: [() => import("./run.js")],
  demo: [() => import("./demo.js")],
  certify: [() => import("./certify.js")],
  load: [() => import("./load.js")],
  "qualify-reader": [() => import("./qualify-reader.js")],
  dashboard: [() => import("./dashboard.js")],
};

// A reader that went away (`validate --batch ... | head -1`) ends the process as a writer to a closed
// pipe ends in a shell: quietly, with 128 + SIGPIPE (Node ignores the signal and gets EPIPE instead).
// Any other failure to write the output (a full disk) is one line and exit 2: never 1, which means a
// verdict, and never a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(signalExitCode("SIGPIPE"));
  process.stderr.write(`cardloop: cannot write the output: ${errorMessage(err)}\n`);
  process.exit(ExitCode.Usage);
});

const program = new Command("cardloop")
  .description("Hardware-in-the-loop simulation and conformance harness for smart-card PKI")
  .version(CARDLOOP_VERSION)
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const args = process.argv.slice(2);
const requested = args.find((a) => !a.startsWith("-"));
// `--version` alone needs no command; anything else unknown (help, a typo) lists them all.
const versionOnly = args.length === 1 && (args[0] === "--version" || args[0] === "-V");
const loaders = requested !== undefined && requested in COMMANDS ? COMMANDS[requested] : versionOnly ? [] : Object.values(COMMANDS).flat();
for (const load of loaders) (await load()).register(program);

// Every command has finished its work when its action resolves (servers wait
// for their signal inside it), so the process exits then rather than when the
// event loop drains: a PC/SC context's native threads are ended by the exit,
// never joined (see keepPcscContextUntilExit).
keepPcscContextUntilExit();

try {
  await program.parseAsync(process.argv);
  await flushed(process.stdout);
  await flushed(process.stderr);
  process.exit(process.exitCode ?? 0);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version are not errors
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") {
      process.exit(0);
    }
    process.exit(ExitCode.Usage); // commander already printed its one line
  }
  exitWith(err);
}

/** Resolves once everything written to the stream so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}
