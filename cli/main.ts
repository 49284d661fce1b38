import "reflect-metadata";
import { Command, CommanderError } from "commander";
import { ExitCode, exitWith } from "./exit.js";

/**
 * One file per subcommand; each exports `register(program)`. Loaded lazily so
 * `cardloop apdu` does not pay for the CA's SQLite or the validator.
 */
const COMMANDS: Array<() => Promise<{ register(program: Command): void }>> = [
];

const program = new Command("cardloop")
  .description("Hardware-in-the-loop simulation and conformance harness for smart-card PKI")
  .version("0.1.0")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

for (const load of COMMANDS) (await load()).register(program);

try {
  await program.parseAsync(process.argv);
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
