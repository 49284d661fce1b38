import { randomBytes } from "node:crypto";
import { LOAD_METRICS } from "../../core/index.js";
import { buildOcspRequest, Certificate, Crl, pemToDer } from "../../pki/index.js";
import { certIdNames, normSerial, parseOcspResponse, type SingleStatus } from "../pkix.js";
import { classifyError } from "./errors.js";
import { nextOcspBatch } from "./ocsp-batch.js";
import { OcspSignatureCheck } from "./ocsp-signature.js";
import { crlOfIssuer, derInteger, searchCrl } from "./crl-search.js";
import type { Ack, PhaseContext, PropagationFigures } from "./types.js";

/*
 * How long after each acknowledgement OCSP says revoked and the CRL lists it,
 * for a sample of the run's revocations (issue 13, verify phase). The sample
 * is spread over the run (every stride-th acknowledgement), so early and late
 * revocations, with the CA idle and under load, are both watched.
 */

export interface PropagationOptions {
  /** Serials to watch (K); spread over the run: ack i is watched when i % stride == 0, stride = max(1, floor(expected / K)), until K are watched. */
  sample: number;
  expected: number;
  /**
   * A --duration run whose acknowledgements cannot be counted ahead (closed loop): the sample is spread over this
   * time instead, one serial per spreadMs/K slice from the first acknowledgement (stride is then unused).
   */
  spreadMs?: number;
  /** Issuing CA certificate (PEM) for OCSP CertIDs; without it (or a CA without OCSP) OCSP is not watched and the figures say why. */
  issuerPem?: string;
  /** OCSP polling interval per watched serial (default 10 ms; no more than 8 OCSP requests in flight in total). */
  ocspPollMs?: number;
  /** CRL fetch interval (default 500 ms; one fetch in flight at a time; a 50 MB CRL takes a while: never overlap fetches). */
  crlPollMs?: number;
  /** Give up on a serial after this long (default 60 s): it goes to notSeen. */
  timeoutMs?: number;
}

export interface PropagationResult {
  ocsp: PropagationFigures;
  crl: PropagationFigures;
  ocspNote?: string;
  crlNote?: string;
}

/**
 * OCSP requests in flight at most, over all watched serials: the watcher must not become the load. As many
 * connections are opened before the first revocation (ready(), warmUp): a served CA busy with batches accepts one new connection per
 * turn of its event loop (node's accept), so a request that needs a new connection waits for as many turns as
 * there are connections before it (measured: up to 300 ms into a run of batches of 1000, against 10-40 ms for
 * the same request on a connection already open).
 */
const OCSP_IN_FLIGHT = 8;
/** How long ready() waits for the connections at most: a CA that does not answer is the run's finding, not a reason to wait. */
const WARM_UP_MS = 5_000;
/** Watched serials per OCSP poll request. */
const OCSP_BATCH = 100;
/** Serials shorter than this are looked up in the CRL's index, not searched for as bytes (see `searchCrl`). */
const MIN_SEARCH_OCTETS = 8;

interface Watched {
  serial: string;
  ackedAt: number;
  deadline: number;
  /** The serial's DER INTEGER (tag, length, content), what a CRL entry carries. */
  integer: Buffer;
  ocspDelay?: number;
  crlDelay?: number;
  /** An OCSP request about this serial is in flight (at most one at a time). */
  ocspAsking?: boolean;
  /** performance.now() when it was last asked about on OCSP. */
  ocspAskedAt?: number;
  /** The signature of the last CRL this serial was looked for in (see `check`). */
  crlChecked?: Uint8Array;
}

export class PropagationWatcher {
  private readonly stride: number;
  private readonly sample: number;
  private readonly ocspPollMs: number;
  private readonly crlPollMs: number;
  private readonly timeoutMs: number;
  private readonly watched: Watched[] = [];
  private ocspLoop?: Promise<void>;
  /** OCSP exchanges in flight (the poll loop does not await them one by one). */
  private readonly asking = new Set<Promise<void>>();
  /** Serials acknowledged since the last turn, to be asked about at once (askFresh). */
  private fresh: Watched[] = [];
  private freshScheduled = false;
  /** Wakes the poll loop's nap (an exchange settled). */
  private wake?: () => void;
  /** The connections' warm-up (warmUp), started by the first ready() and awaited by finish() if it was. */
  private warming?: Promise<void>;
  /** CertIDs per OCSP poll request: halved when the CA refuses that many, 1 once it answers fewer than asked (some answer the first only). */
  private ocspBatch = OCSP_BATCH;
  private readonly slots = new Slots(OCSP_IN_FLIGHT);
  /** Parsed once: the OCSP requests' CertIDs are built from it every poll. */
  private readonly issuer?: Certificate;
  private readonly signatures?: OcspSignatureCheck;
  private acks = 0;
  /** performance.now() of the first acknowledgement (time-slice sampling). */
  private firstAckAt?: number;
  private finishing = false;
  private crlLoop?: Promise<void>;
  private ocspNote?: string;
  private crlNote?: string;
  private ocspErrors = new Map<string, number>();
  private crlErrors = new Map<string, number>();

  constructor(
    private readonly ctx: PhaseContext,
    private readonly o: PropagationOptions,
  ) {
    this.sample = Math.max(0, Math.floor(o.sample));
    this.stride = Math.max(1, Math.floor(o.expected / Math.max(1, this.sample)));
    this.ocspPollMs = o.ocspPollMs ?? 10;
    this.crlPollMs = o.crlPollMs ?? 500;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    const caps = ctx.ca.capabilities();
    if (o.issuerPem) {
      this.issuer = new Certificate(pemToDer(o.issuerPem));
      this.signatures = new OcspSignatureCheck(o.issuerPem);
    }
    if (!caps.ocsp) this.ocspNote = "OCSP not watched: the CA offers no OCSP";
    else if (!o.issuerPem) this.ocspNote = "OCSP not watched: the issuing CA certificate is not known (no certificate was issued or given)";
    if (!caps.crl) this.crlNote = "CRL not watched: the CA offers no CRL";
  }

  /**
   * Opens the watcher's OCSP connections (the first call; later ones wait for the same) and resolves once they
   * are open (or could not be): a run awaits it before its first revocation, so that no watched request waits for
   * a connection to be set up by a CA busy with batches (the watcher's own cost, not the CA's publication delay).
   * Not called, no warm-up request is sent: a run with nothing to revoke asks nothing of a CA that may be dead.
   * Never rejects.
   */
  ready(): Promise<void> {
    if (this.ocspOn && this.sample > 0) this.warming ??= this.warmUp();
    return this.warming ?? Promise.resolve();
  }

  /**
   * Opens the connections the watch will use (OCSP_IN_FLIGHT): as many requests at once, about a serial nobody
   * has (the answer, "unknown", is not looked at; a failure is not counted), while the CA is still idle.
   */
  private async warmUp(): Promise<void> {
    const asks: Promise<unknown>[] = [];
    const deadline = performance.now() + Math.min(this.timeoutMs, WARM_UP_MS);
    for (let i = 0; i < OCSP_IN_FLIGHT && this.slots.tryAcquire(); i++) {
      asks.push(beforeDeadline(this.exchange([randomBytes(16).toString("hex").replace(/^[89a-f]/, "1")]), deadline).catch(() => undefined));
    }
    await Promise.all(asks);
  }

  private get ocspOn(): boolean {
    return this.ocspNote === undefined;
  }

  private get crlOn(): boolean {
    return this.crlNote === undefined;
  }

  private get stopped(): boolean {
    return this.ctx.signal?.aborted === true;
  }

  /** Called for every acknowledged revocation, in order; cheap when the ack is not sampled. */
  onAck(ack: Ack): void {
    const i = this.acks++;
    if (this.watched.length >= this.sample || this.finishing) return;
    if (this.o.spreadMs !== undefined) {
      this.firstAckAt ??= ack.ackedAt;
      if (ack.ackedAt < this.firstAckAt + (this.watched.length * this.o.spreadMs) / Math.max(1, this.sample)) return;
    } else if (i % this.stride !== 0) return;
    const serial = normSerial(ack.serial);
    const w: Watched = { serial, ackedAt: ack.ackedAt, deadline: ack.ackedAt + this.timeoutMs, integer: derInteger(serial) };
    this.watched.push(w);
    if (this.ocspOn) {
      this.askFresh(w);
      this.ocspLoop ??= this.pollOcsp();
    }
    if (this.crlOn) this.crlLoop ??= this.pollCrl();
  }

  /** Waits until every watched serial was seen on both channels or timed out; emits one metric.sample per seen serial. */
  async finish(): Promise<PropagationResult> {
    this.finishing = true;
    await this.warming;
    await this.ocspLoop;
    await Promise.all(this.asking);
    await this.crlLoop;
    const figures = (on: boolean, at: (w: Watched) => number | undefined): PropagationFigures => {
      if (!on) return { watched: 0, delaysMs: [], notSeen: [] };
      const delaysMs: number[] = [];
      const notSeen: string[] = [];
      for (const w of this.watched) {
        const t = at(w);
        if (t === undefined) notSeen.push(w.serial);
        else delaysMs.push(t);
      }
      return { watched: this.watched.length, delaysMs, notSeen };
    };
    const out: PropagationResult = { ocsp: figures(this.ocspOn, (w) => w.ocspDelay), crl: figures(this.crlOn, (w) => w.crlDelay) };
    const ocspNote = this.ocspNote ?? errorsNote("OCSP requests", this.ocspErrors);
    const crlNote = this.crlNote ?? errorsNote("CRL fetches", this.crlErrors);
    if (ocspNote) out.ocspNote = ocspNote;
    if (crlNote) out.crlNote = crlNote;
    return out;
  }

  private seen(w: Watched, channel: "ocsp" | "crl", arrivedAt: number): void {
    const delay = Math.max(0, arrivedAt - w.ackedAt);
    if (channel === "ocsp") w.ocspDelay = delay;
    else w.crlDelay = delay;
    const name = channel === "ocsp" ? LOAD_METRICS.propagationOcsp : LOAD_METRICS.propagationCrl;
    this.ctx.bus.emit("metric.sample", { name, value: delay, unit: "ms" });
  }

  /**
   * A serial just acknowledged is asked about at once, alone (one CertID, as RFC 5019 clients ask): not at the
   * next tick, nor behind a poll already in flight (the loop used to await each poll, so a serial acknowledged
   * meanwhile waited for that answer and then a round trip of its own: ~1.5 round trips, long while the CA is busy
   * with batches). Alone: a responder signs a one-CertID answer without a second trip through its event loop (the
   * embedded CA signs answers of several CertIDs on libuv's pool). The serials of one acknowledged batch go out in
   * the same turn, each its own request; at most OCSP_IN_FLIGHT in flight, the rest left to the poll loop.
   */
  private askFresh(w: Watched): void {
    w.ocspAsking = true; // reserved: the poll loop leaves it to this ask
    this.fresh.push(w);
    if (this.freshScheduled) return;
    this.freshScheduled = true;
    setImmediate(() => {
      this.freshScheduled = false;
      const fresh = this.fresh;
      this.fresh = [];
      for (const f of fresh) {
        if (this.stopped || !this.slots.tryAcquire()) f.ocspAsking = false; // the poll loop asks it (or gives up) instead
        else this.track(this.askOcsp([f]));
      }
    });
  }

  /**
   * Every ocspPollMs, asks OCSP again about the pending serials that no request is out for and that were last
   * asked at least ocspPollMs ago, many CertIDs per request (a CA that publishes late is asked about each serial
   * every ocspPollMs, at a hundredth of the requests). Requests are not awaited before the next tick: one slow
   * answer holds back no other serial. Bounded: one request in flight per serial, OCSP_IN_FLIGHT in all.
   */
  private async pollOcsp(): Promise<void> {
    await null; // the caller has stored this loop before it can end and clear it
    for (;;) {
      const now = performance.now();
      const pending = this.watched.filter((w) => w.ocspDelay === undefined && w.deadline > now);
      // Nothing pending: the loop ends (the next sampled ack starts another), so no timer outlives the watch.
      // The exchanges still in flight are finish()'s to wait for: this loop may have ended before finish() looks.
      if (this.stopped || pending.length === 0) {
        this.ocspLoop = undefined;
        return;
      }
      const due = pending.filter((w) => !w.ocspAsking && (w.ocspAskedAt === undefined || now - w.ocspAskedAt >= this.ocspPollMs));
      const size = this.ocspBatch;
      for (let i = 0; i < due.length && this.slots.tryAcquire(); i += size) this.track(this.askOcsp(due.slice(i, i + size)));
      // Until the next tick, or sooner once nothing is pending (the last answer came): finish() does not wait a tick for nothing.
      const tick = now + this.ocspPollMs;
      while (performance.now() < tick && !this.stopped && this.watched.some((w) => w.ocspDelay === undefined && w.deadline > performance.now())) await this.nap(tick);
    }
  }

  /** Sleeps until `at` (performance.now() ms) or until an OCSP exchange settles, whichever comes first; no timer is left behind. */
  private nap(at: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, at - performance.now()));
      this.wake = done;
    });
  }

  /** One OCSP request to the CA, its slot taken: released when the exchange settles, however it ends (a throw too). */
  private async exchange(serials: string[]): Promise<Uint8Array> {
    try {
      return await this.ctx.ca.ocsp(buildOcspRequest(this.issuer!, serials), "POST");
    } finally {
      this.slots.release();
    }
  }

  /** Keeps an exchange in `asking` until it settles (finish() waits for them), then wakes the poll loop. */
  private track(p: Promise<void>): void {
    this.asking.add(p);
    void p.finally(() => {
      this.asking.delete(p);
      this.wake?.(); // its answer is recorded: the loop may have nothing left to wait for
    });
  }

  /**
   * One OCSP exchange for some pending serials, its slot already taken (released when the exchange settles, even
   * past the deadline: the cap counts what the CA really has in flight); those answered revoked are seen when the
   * answer arrived (before it is parsed and its signature checked: the watcher's own work is not the CA's delay).
   */
  private async askOcsp(chunk: Watched[]): Promise<void> {
    const issuerPem = this.o.issuerPem!;
    const latest = Math.max(...chunk.map((w) => w.deadline));
    const askedAt = performance.now();
    for (const w of chunk) {
      w.ocspAsking = true;
      w.ocspAskedAt = askedAt;
    }
    let der: Uint8Array | undefined;
    try {
      der = await beforeDeadline(this.exchange(chunk.map((w) => w.serial)), latest);
    } catch (err) {
      count(this.ocspErrors, classifyError(err));
    } finally {
      for (const w of chunk) w.ocspAsking = false;
    }
    const arrivedAt = performance.now();
    if (!der) return;
    let answers: Map<string, SingleStatus>;
    try {
      const info = parseOcspResponse(der);
      if (info.responseStatus !== 0) {
        // a responder may cap the CertIDs per request (the embedded CA's is 64): ask for half as many next time
        if (chunk.length > 1) this.ocspBatch = nextOcspBatch(this.ocspBatch, chunk.length, { refused: true, answered: 0 });
        else count(this.ocspErrors, `OCSP ${info.responseStatusName}`);
        return;
      }
      answers = new Map(info.responses.filter((r) => certIdNames(r.certId, issuerPem, r.serial)).map((r) => [r.serial, r]));
      // a "revoked" signed by anyone but the CA or its delegated responder is not publication
      if (answers.size > 0 && !(await this.signatures!.verified(info))) {
        count(this.ocspErrors, "bad signature");
        return;
      }
    } catch {
      count(this.ocspErrors, "undecodable response");
      return;
    }
    this.ocspBatch = nextOcspBatch(this.ocspBatch, chunk.length, { refused: false, answered: answers.size });
    for (const w of chunk) if (w.ocspDelay === undefined && answers.get(w.serial)?.status === "revoked") this.seen(w, "ocsp", arrivedAt);
  }

  /** One CRL fetch at a time, every crlPollMs (from the start of the previous one), while a watched serial is pending or may still come. */
  private async pollCrl(): Promise<void> {
    await null; // the caller has stored this loop before it can end and clear it
    for (;;) {
      const startedAt = performance.now();
      const pending = this.watched.filter((w) => w.crlDelay === undefined && w.deadline > startedAt);
      if (this.stopped || pending.length === 0) return void (this.crlLoop = undefined);
      const latest = Math.max(...pending.map((w) => w.deadline));
      try {
        const der = await beforeDeadline(this.ctx.ca.crl(), latest);
        const arrivedAt = performance.now();
        if (der) await this.check(der, pending, arrivedAt);
      } catch (err) {
        count(this.crlErrors, classifyError(err));
      }
      await sleepUntil(startedAt + this.crlPollMs);
    }
  }

  /** Marks the pending serials this CRL lists, if it decodes and is the expected issuer's. */
  private async check(der: Uint8Array, pending: Watched[], arrivedAt: number): Promise<void> {
    let crl: Crl;
    try {
      crl = new Crl(der);
    } catch {
      count(this.crlErrors, "undecodable CRL");
      return;
    }
    if (this.issuer && !crlOfIssuer(crl, this.issuer)) {
      count(this.crlErrors, "CRL of another issuer");
      return;
    }
    // A CRL is scanned once per serial: one with the very signature of the last one a serial was looked for in
    // is that CRL again (a CA between two publications), and cannot list it now. Only serials not yet looked
    // for in it (sampled since) are; none, and the fetch costs no scan. What is measured does not change: a
    // serial is seen when the first CRL that lists it arrives.
    // (A copy: the CRL's own bytes may be megabytes. No signature, no telling CRLs apart: every one is scanned.)
    if (crl.signature.length > 0) {
      const signature = Uint8Array.from(crl.signature);
      pending = pending.filter((w) => !(w.crlChecked && bytesEqual(w.crlChecked, signature)));
      if (pending.length === 0) return;
      for (const w of pending) w.crlChecked = signature;
    }
    const long = pending.filter((w) => w.integer.length - 2 >= MIN_SEARCH_OCTETS);
    for (const w of await searchCrl(Buffer.from(der.buffer, der.byteOffset, der.byteLength), long)) this.seen(w, "crl", arrivedAt);
    // Short serials (sequential ones: "01") occur everywhere as bytes: pki's index of the entries instead (one pass, then O(1)).
    for (const w of pending) {
      if (w.integer.length - 2 < MIN_SEARCH_OCTETS && crl.lookup(w.integer.subarray(2).toString("hex")) !== undefined) this.seen(w, "crl", arrivedAt);
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function count(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function errorsNote(what: string, errors: Map<string, number>): string | undefined {
  if (errors.size === 0) return undefined;
  const total = [...errors.values()].reduce((a, b) => a + b, 0);
  return `${total} ${what} failed (${[...errors].map(([k, n]) => `${k}: ${n}`).join(", ")})`;
}

const DEADLINE = Symbol("deadline");

/** The promise's value, or undefined when the deadline (performance.now() ms) passes first. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof DEADLINE>((resolve) => (timer = setTimeout(() => resolve(DEADLINE), Math.max(0, deadline - performance.now()))));
  p.catch(() => undefined); // a late rejection is no unhandled one
  try {
    const r = await Promise.race([p, late]);
    return r === DEADLINE ? undefined : (r as T);
  } finally {
    clearTimeout(timer);
  }
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** A counting semaphore that does not queue: a caller without a free slot tries again later. */
class Slots {
  private inUse = 0;
  constructor(private readonly max: number) {}

  tryAcquire(): boolean {
    if (this.inUse >= this.max) return false;
    this.inUse++;
    return true;
  }

  release(): void {
    this.inUse--;
  }
}
