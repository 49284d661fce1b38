import { resolve } from "node:path";
import { redactSecrets } from "../core/index.js";
import type { Origin } from "./protocol.js";
import { LineIndex, realOf } from "./run-file.js";

/** What the copy check reads of a published run. */
export interface PublishedHead {
  /** Events held; with none dropped, held event i is the publisher's position i, the run log's line i. */
  events: number;
  dropped: number;
  live: boolean;
  /** Held event i's line, as the store wrote it. */
  line(i: number): string | undefined;
}

/**
 * Run logs on this host that published runs name as their origin (the file
 * the publishing driver writes). Such a file is listed once, as the published
 * run, only while it is that run's copy: while its lines are a prefix of the
 * published run's, or equal to them (compared at the first line and at the
 * last line both hold), or while either has no whole line yet and the
 * publisher is live. A file longer than a published run that is no longer
 * live holds what that run never did; a published run with events dropped has
 * them at no known position, its file holds what it lacks. A later run
 * rewriting the file (a seeded scenario's first line is the same every time)
 * differs before its end: it is no longer the copy, and is listed again.
 */
export class RunCopies {
  /** Path (as given and real) -> ids of the published runs naming it. */
  private readonly origins = new Map<string, Set<string>>();
  /** The lines of files read for the check, read on only when the file changes. */
  private readonly files = new Map<string, LineIndex>();

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

  /** Whether the run log at `path` is a published run's copy; `indexed`: the store's file run for it (its real path). */
  isCopy(path: string, indexed?: { real?: string }): boolean {
    if (this.origins.size === 0) return false;
    const ids = new Set([...(this.origins.get(resolve(path)) ?? []), ...(this.origins.get(indexed?.real ?? realOf(path)) ?? [])]);
    let file: LineIndex | undefined;
    for (const id of ids) {
      const p = this.published(id);
      if (!p) continue;
      if (!file) {
        file = this.files.get(path) ?? new LineIndex(path);
        this.files.set(path, file);
        if (!file.update()) return false;
      }
      if (copyOf(file, p)) return true;
    }
    return false;
  }
}

function copyOf(file: LineIndex, p: PublishedHead): boolean {
  if (p.dropped > 0) return false;
  if (p.events === 0 || file.count === 0) return p.live;
  if (file.count > p.events && !p.live) return false;
  const last = Math.min(file.count, p.events) - 1;
  return [0, last].every((i) => canonical(file.line(i)) === p.line(i));
}

/** A line as the store writes a published event: parsed, masked, serialised again (a run log's line may differ in spacing only). */
function canonical(line: string | undefined): string | undefined {
  if (line === undefined) return undefined;
  try {
    return JSON.stringify(redactSecrets(JSON.parse(line) as unknown));
  } catch {
    return line;
  }
}
