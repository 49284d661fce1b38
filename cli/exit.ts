import { CardloopError, UsageError, errorMessage } from "../core/index.js";

export const ExitCode = {
  Ok: 0,
  /** A check, expectation or validation failed. */
  Failed: 1,
  /** Unusable input, bad usage, or a target that could not be reached. */
  Usage: 2,
} as const;

/** One line on stderr and the exit code the error implies. Never a stack trace for user errors. */
export function exitWith(err: unknown): never {
  const msg = errorMessage(err).split("\n")[0];
  if (err instanceof CardloopError) {
    process.stderr.write(`cardloop: ${msg}\n`);
    process.exit(ExitCode.Usage);
  }
  // An unexpected error is still one line, but says it is a bug.
  process.stderr.write(`cardloop: internal error: ${msg}\n`);
  if (process.env.CARDLOOP_DEBUG) console.error(err);
  process.exit(ExitCode.Usage);
}

/** Wraps an action so that thrown errors become one stderr line and exit 2. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      exitWith(err);
    }
  };
}

export function usage(message: string): never {
  throw new UsageError(message);
}
