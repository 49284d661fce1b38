import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from "yaml";
import { CardloopError } from "../core/index.js";

/**
 * YAML input read with its positions, for files a person writes (scenarios,
 * policies): every mistake is reported as one line naming the file, line,
 * column and field path, so the author can go straight to it.
 */

/** A YAML file that cannot be used, located at the offending node. */
export class SourceError extends CardloopError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly field: string,
    readonly reason: string,
    /** The kind of file, as the error's stable code: each reader names its own ("scenario", "policy"). */
    code: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}:${line}:${column}: ${field ? `${field}: ` : ""}${reason}`, options);
  }
}

/** Makes the error a kind of file reports (a scenario's, a policy's). */
export type SourceErrorFactory = (file: string, line: number, column: number, field: string, reason: string) => SourceError;

interface SourceContext {
  file: string;
  lines: LineCounter;
  error: SourceErrorFactory;
}

/**
 * A value read from YAML together with where it came from. Every accessor
 * either returns a well-typed value or throws the source's error (a SourceError) pointing at the
 * offending node (or at its parent when the field is missing).
 */
export class Located {
  constructor(
    private readonly ctx: SourceContext,
    readonly node: Node | null,
    /** Dotted field path, e.g. steps[3].revoke.role */
    readonly path: string,
    private readonly offset: number,
  ) {}

  get file(): string {
    return this.ctx.file;
  }

  get line(): number {
    return this.ctx.lines.linePos(this.start).line;
  }

  private get start(): number {
    return this.node?.range?.[0] ?? this.offset;
  }

  fail(reason: string): never {
    const pos = this.ctx.lines.linePos(this.start);
    throw this.ctx.error(this.ctx.file, pos.line, pos.col, this.path, reason);
  }

  get missing(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  isMap(): boolean {
    return isMap(this.node);
  }
  isList(): boolean {
    return isSeq(this.node);
  }
  isScalar(): boolean {
    return isScalar(this.node);
  }

  /** Child of a mapping; missing children are located at the mapping itself. */
  get(key: string): Located {
    if (!isMap(this.node)) this.fail("expected a mapping");
    for (const pair of this.node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === key) return new Located(this.ctx, (pair.value as Node | null) ?? null, this.child(key), (pair.key as Node).range?.[0] ?? this.start);
    }
    return new Located(this.ctx, null, this.child(key), this.start);
  }

  keys(): string[] {
    if (!isMap(this.node)) this.fail("expected a mapping");
    return this.node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : this.fail("keys must be plain scalars")));
  }

  /** Fails on any key not in `allowed`: a typo should not be silently ignored. */
  onlyKeys(allowed: readonly string[]): this {
    for (const k of this.keys()) {
      if (!allowed.includes(k)) this.get(k).fail(`unknown field (expected one of: ${allowed.join(", ")})`);
    }
    return this;
  }

  items(): Located[] {
    if (this.missing) return [];
    if (!isSeq(this.node)) this.fail("expected a list");
    return this.node.items.map((n, i) => new Located(this.ctx, (n as Node | null) ?? null, `${this.path}[${i}]`, this.start));
  }

  private child(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  private scalar(): unknown {
    if (this.missing) this.fail("required field is missing");
    if (!isScalar(this.node)) this.fail("expected a single value, not a list or mapping");
    return this.node.value;
  }

  str(): string {
    const v = this.scalar();
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    this.fail("expected text");
  }

  optStr(): string | undefined {
    return this.missing ? undefined : this.str();
  }

  num(): number {
    const v = this.scalar();
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
    this.fail(`expected a number, got "${String(v)}"`);
  }

  int(min = 0): number {
    const n = this.num();
    if (!Number.isInteger(n) || n < min) this.fail(`expected an integer >= ${min}, got ${n}`);
    return n;
  }

  bool(): boolean {
    const v = this.scalar();
    if (typeof v === "boolean") return v;
    this.fail(`expected true or false, got "${String(v)}"`);
  }

  oneOf<T extends string>(values: readonly T[]): T {
    const s = this.str();
    if (!(values as readonly string[]).includes(s)) this.fail(`"${s}" is not one of: ${values.join(", ")}`);
    return s as T;
  }

  /** An ISO 8601 date or date-time (a bare date means 00:00 UTC). */
  date(): Date {
    const s = this.str();
    const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
    if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(d.getTime())) this.fail(`"${s}" is not an ISO 8601 date`);
    return d;
  }

  /** Plain data (for expectations): scalars, lists and mappings as JS values. */
  toJS(): unknown {
    if (this.node === null) return undefined;
    return (this.node as Node).toJSON();
  }
}

/** Parses YAML text; a syntax error becomes the source's error (`error` makes it) with its position. */
export function parseYaml(text: string, file: string, error: SourceErrorFactory): Located {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = lines.linePos(first.pos[0]);
    throw error(file, pos.line, pos.col, "", `YAML syntax: ${first.message.split("\n")[0]}`);
  }
  return new Located({ file, lines, error }, (doc.contents as Node | null) ?? null, "", 0);
}
