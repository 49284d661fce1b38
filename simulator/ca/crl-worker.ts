import type { KeyObject } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { CrlEntriesSnapshot } from "./crl-entries.js";

/**
 * The CRL's heavy half on a worker thread: copying ~50 MB of pre-encoded
 * entries into one TBSCertList, hashing it and (for a key in a file)
 * signing it. Measured at 1,000,000 entries, the copy and the SHA-256 alone
 * take ~30 ms each on this machine: on the main thread that is an OCSP p99
 * of its own.
 *
 * A key in SoftHSM stays with its PKCS#11 session on the main thread: the
 * worker returns the digest and the main thread signs it (one C_Sign, well
 * under a millisecond).
 *
 * The worker is plain JavaScript given as source (eval), not a module of
 * ours: it then runs the same from the TypeScript sources (tsx, tests), the
 * esbuild bundle (dist/) and anywhere else, with node's crypto only.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash, sign } = require("node:crypto");
parentPort.on("message", (m) => {
  try {
    // Into the caller's shared buffer, reused from CRL to CRL (a new 50 MB buffer per CRL costs the main thread a
    // full garbage collection each time); room before the TBS for the outer header, after it for the signature.
    const out = new Uint8Array(m.out);
    let at = m.before;
    out.set(m.head, at); at += m.head.length;
    for (const c of m.chunks) { out.set(new Uint8Array(c.buffer, 0, c.length), at); at += c.length; }
    out.set(m.held, at); at += m.held.length;
    out.set(m.tail, at); at += m.tail.length;
    const tbs = out.subarray(m.before, at);
    const signature = m.key ? sign("sha256", tbs, m.key) : undefined;
    const digest = m.key ? undefined : createHash("sha256").update(tbs).digest();
    parentPort.postMessage({ id: m.id, tbsStart: m.before, tbsEnd: at, signature, digest });
  } catch (err) {
    // The message only: never the key or the data.
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

export interface CrlJob {
  head: Uint8Array;
  entries: CrlEntriesSnapshot;
  tail: Uint8Array;
  /** A key in a file: the worker signs with it. Absent: the worker hashes, and the caller signs the digest. */
  key?: KeyObject;
  /** Where to write: `before` octets free, the TBS, then at least `after` octets free (the caller sized it). */
  out: SharedArrayBuffer;
  before: number;
  after: number;
}

export interface CrlJobResult {
  tbsStart: number;
  tbsEnd: number;
  signature?: Uint8Array;
  digest?: Uint8Array;
}

interface PendingJob {
  worker: Worker;
  timer: NodeJS.Timeout;
  resolve: (r: CrlJobResult) => void;
  reject: (e: Error) => void;
}

/** A job this long means a wedged worker (a million entries take well under a second): fail it and start afresh. */
const JOB_TIMEOUT_MS = 30_000;

/**
 * One worker thread, started on first use; jobs one at a time in order. It holds the process open only while a job runs.
 *
 * A worker that errs, exits or runs past `jobTimeoutMs` fails only its own jobs (a replacement's are not its to
 * fail: review R1 P3) and the next job starts a new worker; the publisher reports the failure ("ca.crl-failed")
 * and its schedule retries, so no GET /crl waits for ever.
 */
export class CrlWorker {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, PendingJob>();
  private closed = false;

  constructor(private readonly jobTimeoutMs = JOB_TIMEOUT_MS) {}

  run(job: CrlJob): Promise<CrlJobResult> {
    if (this.closed) return Promise.reject(new Error("the CA is closed"));
    const w = this.start();
    const id = this.nextId++;
    const p = new Promise<CrlJobResult>((resolve, reject) => {
      const timer = setTimeout(() => this.wedged(w), this.jobTimeoutMs);
      timer.unref(); // the worker, ref'd while it has jobs, keeps the process up; the timer need not
      this.pending.set(id, { worker: w, timer, resolve, reject });
    });
    if (this.jobsOf(w) === 1) w.ref();
    w.postMessage({
      id,
      head: job.head,
      tail: job.tail,
      held: job.entries.held,
      chunks: job.entries.chunks,
      key: job.key,
      out: job.out,
      before: job.before,
      after: job.after,
    });
    return p;
  }

  close(): void {
    this.closed = true;
    this.fail(undefined, new Error("the CA is closed"));
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on("message", (m: CrlJobResult & { id: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p || p.worker !== w) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (this.jobsOf(w) === 0) w.unref();
      if (m.error !== undefined) p.reject(new Error(`CRL worker: ${m.error}`));
      else p.resolve(m);
    });
    const lost = (err: Error) => {
      if (this.worker === w) this.worker = undefined; // the next job starts a new one
      this.fail(w, err);
    };
    w.on("error", lost);
    w.on("exit", (code) => lost(new Error(`CRL worker exited (${code})`)));
    this.worker = w;
    return w;
  }

  /** A job ran past the timeout: this worker is done for; its jobs fail, the next job gets a new worker. */
  private wedged(w: Worker): void {
    if (this.worker === w) this.worker = undefined;
    this.fail(w, new Error(`CRL worker: no answer in ${this.jobTimeoutMs} ms`));
    void w.terminate();
  }

  private jobsOf(w: Worker): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.worker === w) n++;
    return n;
  }

  /** Rejects the jobs of worker `w` (all of them when undefined). */
  private fail(w: Worker | undefined, err: Error): void {
    for (const [id, p] of [...this.pending]) {
      if (w !== undefined && p.worker !== w) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
