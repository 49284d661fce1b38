import { constants } from "node:os";
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

/** How a shell reports a command a signal ended: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/**
 * The first SIGINT or SIGTERM from now on, taken over from Node's default
 * (ending the process) until it arrives: then neither is handled any more, so
 * a second one ends the process at once. Aborting `until` stops the wait: the
 * handlers go and the promise never settles.
 */
export function untilStopSignal(until?: AbortSignal): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    if (until?.aborted) return;
    const stop = (signal: NodeJS.Signals) => {
      off();
      resolve(signal);
    };
    const off = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      until?.removeEventListener("abort", off);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    until?.addEventListener("abort", off);
  });
}

/** A server that could not listen (EADDRINUSE, EACCES, an unknown host): the user's to fix, so a usage error naming the address, not an internal one. */
export function listenError(err: unknown, host: string, port: number): UsageError {
  if (err instanceof UsageError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new UsageError(`cannot listen on ${address}: ${code === "EADDRINUSE" ? "address already in use" : errorMessage(err)}`);
}
