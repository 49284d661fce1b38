import { randomBytes } from "node:crypto";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { SystemClock, redactSecrets, type AnyEvent, type Clock } from "../core/index.js";
import { LineCache } from "./line-cache.js";
import { RunCopies } from "./run-copies.js";
import { LIMITS, PUBLISHED_RUN_ID, type Origin, type PublishAnswer, type RunSummary } from "./protocol.js";
import { appendLine, newRun, readBack, readOn, sameTail, type Run } from "./held-run.js";
import { PublishError, checkBatch, originOf, type Batch } from "./publish-batch.js";
import { AppendFile, findRunLogs, readOrigin, readPublishedState, realOf, RUN_LOG, writeOrigin, writePublishedState, type WriteSync } from "./run-file.js";
import { SummaryBuilder } from "./summary.js";

export { PublishError } from "./publish-batch.js";

/**
 * The dashboard's runs: every run.jsonl under the runs directory, and the
 * runs publishers send (written to `published/<id>/run.jsonl`, with the
 * publisher's position in `state.json`, so history and resends survive a
 * restart). Each event is kept as its JSON line and its byte offset: the
 * server sends lines without serialising them again, and lines the cache let
 * go are read back from the file in one byte range (line-cache.ts, run-file.ts).
 */

export interface RunStoreOptions {
  /** Created if missing. */
  runsDir: string;
  /** Wall clock for a published run's startedAt/updatedAt and for idleness (SystemClock by default). */
  clock?: Clock;
  /** os.hostname() by default: a published origin.runLog on this host is not indexed again as a file. */
  hostname?: string;
  /** Characters of lines kept in memory across runs, live ones included (default 256 MiB). */
  maxCachedBytes?: number;
  /**
   * A live published run whose publisher sent nothing (not even a keep-alive) for this
   * long has gone away; a run log that grew within it and has a run not finished is
   * running (default 30 s).
   */
  idleMs?: number;
  /** For tests: how appended bytes reach the disk (fs.writeSync by default). */
  writeSync?: WriteSync;
}

const PUBLISHED = "published";
/** Lines of a live run kept in memory before any other run's: pages at the live edge read these. */
const LIVE_TAIL = LIMITS.eventsPerMessage * 4;

export class RunStore {
  readonly runsDir: string;
  private readonly clock: Clock;
  private readonly hostname: string;
  private readonly idleMs: number;
  private readonly writeSync?: WriteSync;
  private readonly runs = new Map<string, Run>();
  /** File runs by path (their id may be `file:<rel>`). */
  private readonly files = new Map<string, Run>();
  private readonly cache: LineCache<Run>;
  private readonly copies: RunCopies;
  /** File runs' generations: this instance's, then a counter. */
  private readonly instance = randomBytes(4).toString("hex");
  private generations = 0;
  /** Run log path -> the last write of a run in it the store let go (rewritten, or a published run's copy). */
  private readonly passed = new Map<string, number>();
  private readonly listeners = new Set<(run: RunSummary) => void>();
  private readonly removeListeners = new Set<(id: string) => void>();
  private scanning?: Promise<void>;
  private closed = false;

  private constructor(opts: RunStoreOptions) {
    this.runsDir = resolve(opts.runsDir);
    this.clock = opts.clock ?? new SystemClock();
    this.hostname = opts.hostname ?? osHostname();
    this.idleMs = opts.idleMs ?? 30_000;
    this.writeSync = opts.writeSync;
    this.copies = new RunCopies(this.hostname, (id) => {
      const p = this.runs.get(id);
      if (p?.builder.source !== "published") return undefined;
      const line = (i: number) => (i === 0 ? p.firstLine : i === p.builder.events - 1 ? p.lastLine : this.lines(id, i, 1)[0]);
      return { events: p.builder.events, dropped: p.builder.dropped, live: p.builder.isLive, line };
    });
    this.cache = new LineCache<Run>(opts.maxCachedBytes ?? 256 * 1024 * 1024, LIVE_TAIL, (run) => run.builder.isLive);
  }

  /** Indexes every run.jsonl under runsDir. */
  static async open(opts: RunStoreOptions): Promise<RunStore> {
    const store = new RunStore(opts);
    mkdirSync(store.runsDir, { recursive: true });
    await store.rescan();
    return store;
  }

  /** Newest first (startedAt descending, then id). */
  list(): RunSummary[] {
    return [...this.runs.values()]
      .map((r) => r.builder.summary())
      .sort((a, b) => (a.startedAt !== b.startedAt ? (a.startedAt < b.startedAt ? 1 : -1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: string): RunSummary | undefined {
    return this.runs.get(id)?.builder.summary();
  }

  /** Events held (0 for an unknown run). */
  count(id: string): number {
    return this.runs.get(id)?.builder.events ?? 0;
  }

  /** Characters of lines held in memory across runs (at most maxCachedBytes). */
  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /** The JSON lines of events [from, from+limit) (fewer at the end, [] past it); what is not in memory is read from the file. */
  lines(id: string, from: number, limit: number): string[] {
    const run = this.runs.get(id);
    if (!run) return [];
    const start = Math.max(0, Math.floor(from));
    const stop = Math.min(run.builder.events, start + Math.max(0, Math.floor(limit)));
    if (!(start < stop)) return [];
    const c = this.cache.get(run);
    if (!c || stop <= c.from) return readBack(run, start, stop);
    const cached = c.slice(Math.max(start, c.from), stop);
    return start >= c.from ? cached : [...readBack(run, start, c.from), ...cached];
  }

  /**
   * Validates and appends one PublishBatch: PublishError(400, reason) on a bad shape. The
   * lines and the publisher's position reach the disk before anything changes in memory:
   * a batch that cannot be written (the error is thrown) changes nothing, and its retry is taken whole.
   */
  publish(id: string, body: unknown): PublishAnswer {
    if (this.closed) throw new PublishError(503, "closing");
    if (!PUBLISHED_RUN_ID.test(id)) throw new PublishError(400, "bad run id");
    const batch = checkBatch(body);
    let run = this.runs.get(id);
    // A run log whose directory has this name: it stays listed, as file:<name>.
    if (run && run.builder.source !== "published") {
      this.moveAside(run);
      run = undefined;
    }
    // Appending after a line the dashboard cannot read would hide the new events behind it.
    if (run?.broken) throw new PublishError(409, `run ${id}: its run log is unreadable past event ${run.builder.events}`);
    const created = run === undefined;
    run ??= this.createPublished(id);
    try {
      return this.accept(run, batch, created);
    } catch (err) {
      if (created) this.forget(run);
      throw err;
    }
  }

  /** Called after every change of a run (new run, events appended, finished, went away, rescan growth) with its new summary. */
  onChange(listener: (run: RunSummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called when a run leaves the index: a run log rewritten from the start (it
   * comes back at once as a new run under the same id), one a published run
   * turns out to be the copy of, or one that moves to `file:<name>` because a
   * publisher took its name.
   */
  onRemove(listener: (id: string) => void): () => void {
    this.removeListeners.add(listener);
    return () => this.removeListeners.delete(listener);
  }

  /** Finishes published runs whose publisher went quiet, picks up new or grown run.jsonl files (the server calls it every second). */
  rescan(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** Every write is already on disk when publish() returns: closing waits for a scan, refuses what comes later, closes the files. */
  async close(): Promise<void> {
    this.closed = true;
    await this.scanning;
    for (const run of this.runs.values()) run.file?.close();
  }

  private accept(run: Run, batch: Batch, created: boolean): PublishAnswer {
    const b = run.builder;
    // Resends overlap what is held (skipped); a jump past it is a gap the dashboard will never fill.
    const skip = Math.max(0, run.next - batch.from);
    const gap = Math.max(0, batch.from - run.next);
    const fresh = batch.events.slice(skip).map((e) => redactSecrets(e) as unknown as AnyEvent);
    const lines = fresh.map((e) => JSON.stringify(e));
    const next = Math.max(run.next, batch.from + batch.events.length);
    const news = lines.length > 0 || gap > 0;
    const final = batch.final || (run.final && !news);
    const originNew = batch.origin !== undefined && run.builder.origin === undefined;

    // The disk first. A reloaded file may end in a whole event without its "\n" (a write cut short): end that line first.
    const lead = run.midLine && lines.length > 0 ? "\n" : "";
    const text = lines.length > 0 ? lead + lines.join("\n") + "\n" : "";
    const dir = dirname(run.path);
    if (originNew) writeOrigin(dir, batch.origin!);
    if (news || next !== run.next || final !== run.final) {
      const file = (run.file ??= new AppendFile(run.path, true, this.writeSync));
      if (text !== "") file.append(text, run.end);
      try {
        writePublishedState(dir, { next, dropped: b.dropped + gap, final, events: b.events + lines.length, bytes: run.end + Buffer.byteLength(text) });
      } catch (err) {
        if (text !== "") file.cutBack(run.end);
        throw err;
      }
    }

    // Then the store's own state.
    const wasLive = b.isLive;
    const eventsBefore = b.events;
    b.dropped += gap;
    run.next = next;
    run.final = final;
    run.heardMs = this.clock.nowMs();
    if (batch.final) {
      b.finish();
      run.file?.close();
    } else if (news || !run.final) b.resume(); // a keep-alive resumes a run its publisher has not finished
    if (originNew) this.takeOrigin(run, batch.origin!);
    if (lines.length > 0) {
      if (!this.cache.peek(run) && b.isLive) this.cache.start(run, b.events);
      let offset = run.end + lead.length;
      const keep = this.keeper(run);
      for (let i = 0; i < lines.length; i++) {
        appendLine(run, lines[i], fresh[i], offset, keep);
        offset += Buffer.byteLength(lines[i]) + 1;
      }
      run.end = offset;
      run.lineNo += lines.length;
      run.midLine = false;
      this.cache.get(run);
    }
    if (originNew || (eventsBefore === 0 && lines.length > 0)) this.hideCopies();
    if (created || news || b.isLive !== wasLive || originNew) {
      b.updatedAt = this.clock.now().toISOString();
      this.emit(run);
    }
    return { accepted: lines.length, next };
  }

  private async scan(): Promise<void> {
    this.expireIdle();
    const paths = await findRunLogs(this.runsDir);
    // Published runs first: their names are theirs, and their origins say which files not to index twice.
    const isPublished = (p: string) => this.idOf(p).source === "published";
    for (const p of [...paths.filter(isPublished), ...paths.filter((p) => !isPublished(p))]) {
      try {
        this.scanOne(p);
      } catch {
        // A file that vanished or cannot be read between the listing and now: the next scan sees it again.
      }
    }
  }

  /** A live published run whose publisher has been quiet for idleMs: finished as its events say, and evictable. */
  private expireIdle(): void {
    const now = this.clock.nowMs();
    for (const run of this.runs.values()) {
      if (run.builder.source !== "published" || !run.builder.isLive || now - run.heardMs < this.idleMs) continue;
      run.builder.publisherWentAway();
      run.file?.close();
      this.emit(run);
    }
  }

  private scanOne(path: string): void {
    const { id: rel, source } = this.idOf(path);
    if (source === "published") {
      const held = this.runs.get(rel);
      if (held?.builder.source === "published") return;
      if (held) this.moveAside(held);
      this.emit(this.indexFile(path, rel, "published"));
      return;
    }
    const run = this.files.get(path);
    if (!run) return this.indexNew(path, rel);
    if (this.copies.isCopy(path, run)) return this.remove(run, true);
    const st = statSync(path);
    if (st.size === run.end && st.mtimeMs === run.mtimeMs) {
      if (this.updateFileLive(run)) this.emit(run);
      return;
    }
    if (st.size < run.end || !sameTail(run)) {
      this.remove(run, true);
      return this.indexNew(path, rel);
    }
    run.mtimeMs = st.mtimeMs;
    run.builder.updatedAt = st.mtime.toISOString();
    const events = run.builder.events;
    const broken = run.broken;
    readOn(run, this.keeper(run));
    const liveChanged = this.updateFileLive(run);
    if (run.builder.events !== events || run.broken !== broken || liveChanged) this.emit(run);
  }

  /** A run log not in the index: indexed unless it is a published run's copy, under its name or, if a published run has that, file:<name>. */
  private indexNew(path: string, rel: string): void {
    if (this.copies.isCopy(path)) return void this.passed.set(path, statSync(path).mtimeMs);
    const holder = this.runs.get(rel);
    const id = holder === undefined ? rel : holder.builder.source === "published" ? `file:${rel}` : undefined;
    if (id === undefined || this.runs.has(id)) return;
    this.emit(this.indexFile(path, id, "file"));
  }

  private indexFile(path: string, id: string, source: RunSummary["source"]): Run {
    const st = statSync(path);
    const generation = source === "published" ? "published" : `${this.instance}.${++this.generations}`;
    // Until its events give a duration (SummaryBuilder.startedAt): the file's birthtime, unless a run this store saw in it ended later (rewritten in place).
    const born = st.birthtimeMs > 0 && st.birthtimeMs > (this.passed.get(path) ?? -Infinity);
    const run = this.newRun(id, path, new SummaryBuilder(id, source, (born ? st.birthtime : st.mtime).toISOString(), generation));
    run.builder.updatedAt = st.mtime.toISOString();
    run.mtimeMs = st.mtimeMs;
    this.cache.start(run, 0);
    if (source === "file") {
      run.real = realOf(path);
      this.files.set(path, run);
      readOn(run, this.keeper(run));
      this.updateFileLive(run);
      return run;
    }
    const dir = dirname(path);
    const origin = originOf(readOrigin(dir));
    if (origin) this.takeOrigin(run, origin);
    // The publisher's position covers the log up to state.bytes; lines past it are a batch it was never answered for: it sends them again.
    const state = readPublishedState(dir);
    readOn(run, this.keeper(run), state && st.size >= state.bytes ? state.bytes : Infinity);
    const exact = state !== undefined && run.end === state.bytes && run.builder.events === state.events;
    run.next = exact ? state.next : run.builder.events;
    run.builder.dropped = state?.dropped ?? 0;
    run.final = state?.final ?? false;
    // Cut back to what the store read (a torn or unanswered batch) before the next append.
    run.file = new AppendFile(path, false, this.writeSync);
    return run;
  }

  private createPublished(id: string): Run {
    const dir = join(this.runsDir, PUBLISHED, id);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, RUN_LOG);
    writeFileSync(path, "", { flag: "a" });
    if (statSync(path).size > 0) return this.indexFile(path, id, "published");
    const run = this.newRun(id, path, new SummaryBuilder(id, "published", this.clock.now().toISOString()));
    run.file = new AppendFile(path, true, this.writeSync);
    this.cache.start(run, 0);
    return run;
  }

  private newRun(id: string, path: string, builder: SummaryBuilder): Run {
    const run = newRun(id, path, this.idOf(path).id, builder, this.clock.nowMs());
    this.runs.set(id, run);
    return run;
  }

  /** Where a run's lines go as they are read or appended: its window in the cache, if it has one. */
  private keeper(run: Run): (line: string) => void {
    return (line) => this.cache.push(run, line);
  }

  /** A file run is running while its log grew within idleMs (of the store's clock, either side) and a run in it has not finished. */
  private updateFileLive(run: Run): boolean {
    const live = !run.broken && run.builder.hasOpenRun && Math.abs(this.clock.nowMs() - run.mtimeMs) < this.idleMs;
    if (live === run.builder.isLive) return false;
    if (live) run.builder.resume();
    else run.builder.finish();
    return true;
  }

  private takeOrigin(run: Run, origin: Origin): void {
    run.builder.origin = origin;
    this.copies.claim(run.id, origin);
  }

  /** File runs that are now known to be a published run's copy leave the index. */
  private hideCopies(): void {
    if (this.copies.empty) return;
    for (const run of [...this.files.values()]) if (this.copies.isCopy(run.path, run)) this.remove(run, true);
  }

  /** A file run whose name a publisher took: listed again as file:<name>. */
  private moveAside(run: Run): void {
    this.remove(run);
    const id = `file:${run.rel}`;
    if (this.runs.has(id)) return;
    try {
      this.emit(this.indexFile(run.path, id, "file"));
    } catch {
      // Gone meanwhile: the next scan finds it if it comes back.
    }
  }

  /** passed: this run leaves its file (rewritten, or now a published run's copy): a run found in the file later started after its last write. */
  private remove(run: Run, passed = false): void {
    if (passed) this.passed.set(run.path, run.mtimeMs);
    this.forget(run);
    for (const l of this.removeListeners) l(run.id);
  }

  private forget(run: Run): void {
    if (this.runs.get(run.id) === run) this.runs.delete(run.id);
    if (this.files.get(run.path) === run) this.files.delete(run.path);
    this.cache.drop(run);
    run.file?.close();
  }

  private emit(run: Run): void {
    const summary = run.builder.summary();
    for (const l of this.listeners) l(summary);
  }

  /**
   * `published/<id>/run.jsonl` is the published run <id>; any other is the file run named by its directory.
   * A run log directly in runsDir is named by runsDir's own name: "." cannot be a URL path segment.
   */
  private idOf(path: string): { id: string; source: RunSummary["source"] } {
    const parts = relative(this.runsDir, dirname(path)).split(sep).filter((p) => p !== "");
    if (parts.length === 2 && parts[0] === PUBLISHED && PUBLISHED_RUN_ID.test(parts[1])) return { id: parts[1], source: "published" };
    return { id: parts.length === 0 ? basename(resolve(this.runsDir)) || "runs" : parts.join("/"), source: "file" };
  }
}
