import { statSync } from "node:fs";
import { resolve } from "node:path";
import { redactSecrets } from "../core/index.js";
import type { Origin } from "./publish-batch.js";
import { readFirstLine, realOf } from "./run-file.js";

/** What the copy check reads of a published run. */
export interface PublishedHead {
  firstLine?: string;
  live: boolean;
}

/**
 * Run logs on this host that published runs name as their origin (the file
 * the publishing driver writes). Such a file is listed once, as the published
 * run, only while it is that run's copy: while its first line is the published
 * run's first line, or while neither has a whole first line yet and the
 * publisher is live. A later run rewriting the file starts with another
 * run.started: the file is no longer the copy, and is listed again.
 */
export class RunCopies {
  /** Path (as given and real) -> ids of the published runs naming it. */
  private readonly origins = new Map<string, Set<string>>();
  /** First lines of files read for the check, read again only when the file changes. */
  private readonly heads = new Map<string, { size: number; mtimeMs: number; line?: string }>();

  constructor(
    private readonly hostname: string,
    private readonly published: (id: string) => PublishedHead | undefined,
  ) {}

  get empty(): boolean {
    return this.origins.size === 0;
  }

  /** The published run `id` says its driver writes origin.runLog on origin.host: only this host's paths mean anything here. */
  claim(id: string, origin: Origin): void {
    if (origin.host !== this.hostname || origin.runLog === undefined) return;
    for (const p of new Set([resolve(origin.runLog), realOf(origin.runLog)])) {
      const ids = this.origins.get(p) ?? new Set<string>();
      ids.add(id);
      this.origins.set(p, ids);
    }
  }

  /** Whether the run log at `path` is a published run's copy; `indexed`: the store's file run for it (its real path and first line), else the file is read. */
  isCopy(path: string, indexed?: { real?: string; firstLine?: string }): boolean {
    if (this.origins.size === 0) return false;
    const ids = [...(this.origins.get(resolve(path)) ?? []), ...(this.origins.get(indexed?.real ?? realOf(path)) ?? [])];
    let read = false;
    let first: string | undefined;
    for (const id of ids) {
      const p = this.published(id);
      if (!p) continue;
      if (!read) [first, read] = [indexed ? indexed.firstLine : this.headOf(path), true];
      if (p.firstLine === undefined || first === undefined) {
        if (p.live) return true;
        continue;
      }
      if (canonical(first) === p.firstLine) return true;
    }
    return false;
  }

  private headOf(path: string): string | undefined {
    const st = statSync(path);
    const known = this.heads.get(path);
    if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.line;
    const line = readFirstLine(path);
    this.heads.set(path, { size: st.size, mtimeMs: st.mtimeMs, line });
    return line;
  }
}

/** A line as the store writes a published event: parsed, masked, serialised again (a run log's line may differ in spacing only). */
function canonical(line: string): string {
  try {
    return JSON.stringify(redactSecrets(JSON.parse(line) as unknown));
  } catch {
    return line;
  }
}
