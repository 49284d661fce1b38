/** Base of cardloop's own errors: a stable machine-readable code plus a message. */
export class CardloopError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or unusable input: the CLI exits 2 with one line. */
export class UsageError extends CardloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("usage", message, options);
  }
}

/** Bytes that do not decode as the format they claim to be. */
export class FormatError extends CardloopError {
  constructor(
    readonly format: string,
    message: string,
    readonly offset?: number,
  ) {
    super("format", `${format}: ${message}${offset === undefined ? "" : ` (at offset ${offset})`}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
