/**
 * The store's runs' lines held in memory, within one budget for all runs
 * (characters of lines). Each run holds a window [from, end) of its lines: the
 * lines before `from` are read back from its file when asked. When the budget
 * is passed the cache frees down to three quarters of it (so that the next
 * lines do not each cost an eviction): first a live run's lines before its
 * last `tail` (pages at the live edge read the tail; older lines come back
 * from the file in one byte range), then whole runs that are not live, least
 * recently used first, and, only if that is not enough, live runs' tails too.
 */

/** Lines [from, end) of one run. */
export class RunLines {
  private lines: string[] = [];
  /** lines[head] is line `from`: dropping the front is O(1), the array is compacted now and then. */
  private head = 0;
  bytes = 0;

  constructor(public from: number) {}

  get length(): number {
    return this.lines.length - this.head;
  }

  get end(): number {
    return this.from + this.length;
  }

  /** Lines [start, stop), both within [from, end]. */
  slice(start: number, stop: number): string[] {
    return this.lines.slice(this.head + start - this.from, this.head + stop - this.from);
  }

  push(line: string): void {
    this.lines.push(line);
    this.bytes += line.length;
  }

  /** Forgets the lines before `keep`; returns the characters freed. */
  dropBefore(keep: number): number {
    let freed = 0;
    const n = Math.min(this.length, Math.max(0, keep - this.from));
    for (let i = 0; i < n; i++) {
      freed += this.lines[this.head + i].length;
      this.lines[this.head + i] = "";
    }
    this.head += n;
    this.from += n;
    this.bytes -= freed;
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
    return freed;
  }
}

export class LineCache<K> {
  private readonly runs = new Map<K, RunLines>();
  private held = 0;

  /**
   * maxBytes: characters of lines held across runs; tail: lines of a live run kept
   * before any other run's; isLive: whether a run is still growing.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly tail: number,
    private readonly isLive: (run: K) => boolean,
  ) {}

  /** Characters of lines held, across runs: never above maxBytes once a call returns. */
  get bytes(): number {
    return this.held;
  }

  /** Starts holding a run's lines from line `from` on (the lines the store appends next). */
  start(run: K, from: number): RunLines {
    this.drop(run);
    const lines = new RunLines(from);
    this.runs.set(run, lines);
    return lines;
  }

  /** The run's window, now the most recently used; undefined when it holds none. */
  get(run: K): RunLines | undefined {
    const lines = this.runs.get(run);
    if (lines) {
      this.runs.delete(run);
      this.runs.set(run, lines);
    }
    return lines;
  }

  /** The run's window without counting as a use. */
  peek(run: K): RunLines | undefined {
    return this.runs.get(run);
  }

  /** Appends a line to the run's window, if it has one. */
  push(run: K, line: string): void {
    const lines = this.runs.get(run);
    if (!lines) return;
    lines.push(line);
    this.held += line.length;
    if (this.held > this.maxBytes) this.evict();
  }

  drop(run: K): void {
    const lines = this.runs.get(run);
    if (!lines) return;
    this.held -= lines.bytes;
    this.runs.delete(run);
  }

  private evict(): void {
    const target = Math.floor((this.maxBytes * 3) / 4);
    for (const [run, lines] of this.runs) {
      if (this.held <= target) return;
      if (this.isLive(run) && lines.length > this.tail) this.held -= lines.dropBefore(lines.end - this.tail);
    }
    for (const run of [...this.runs.keys()]) {
      if (this.held <= target) return;
      if (!this.isLive(run)) this.drop(run);
    }
    for (const run of [...this.runs.keys()]) {
      if (this.held <= target) return;
      this.drop(run);
    }
  }
}
