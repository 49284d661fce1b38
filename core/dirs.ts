import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { CardloopError } from "./errors.js";

/** A directory that cannot be made: the CLI reports it in one line (exit 2). */
export class DirectoryError extends CardloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("directory", message, options);
  }
}

/**
 * `mkdir -p`: makes `dir` and its missing parents (each with `mode`), top
 * down, one plain mkdir each. Node 20's `mkdirSync(..., { recursive: true })`
 * loops for ever where a parent exists but refuses children with ENOENT
 * (procfs: `/proc/x`); here every refusal is an error that names the path.
 */
export function makeDirs(dir: string, mode?: number): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const kind = statKind(d);
    if (kind === "dir") break;
    if (kind === "other") throw new DirectoryError(`cannot create directory ${dir}: ${d} exists and is not a directory`);
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" && statKind(d) === "dir") continue; // made meanwhile by someone else
      throw new DirectoryError(`cannot create directory ${dir}: ${code ?? "error"} on ${d}`, { cause: err });
    }
  }
}

function statKind(path: string): "dir" | "other" | "none" {
  try {
    return statSync(path).isDirectory() ? "dir" : "other";
  } catch {
    return "none";
  }
}
