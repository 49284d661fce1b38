import { LOAD_METRICS } from "../../core/index.js";
import { buildOcspRequest, Certificate, Crl, pemToDer } from "../../pki/index.js";
import { certIdNames, normSerial, parseOcspResponse, type SingleStatus } from "../pkix.js";
import { classifyError } from "./errors.js";
import { nextOcspBatch } from "./ocsp-batch.js";
import { OcspSignatureCheck } from "./ocsp-signature.js";
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
  /** OCSP polling interval per watched serial (default 10 ms; no more than ~50 OCSP requests in flight in total). */
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

/** OCSP requests in flight at most, over all watched serials: the watcher must not become the load. */
const OCSP_IN_FLIGHT = 50;
/** Watched serials per OCSP poll request. */
const OCSP_BATCH = 100;
/** Serials shorter than this are looked up in the CRL's index, not searched for as bytes (see `searchCrl`). */
const MIN_SEARCH_OCTETS = 8;
/** Header occurrences examined between two yields to the event loop (a few ms of work). */
const YIELD_EVERY = 20_000;

interface Watched {
  serial: string;
  ackedAt: number;
  deadline: number;
  /** The serial's DER INTEGER (tag, length, content), what a CRL entry carries. */
  integer: Buffer;
  ocspDelay?: number;
  crlDelay?: number;
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
    if (this.ocspOn) this.ocspLoop ??= this.pollOcsp();
    if (this.crlOn) this.crlLoop ??= this.pollCrl();
  }

  /** Waits until every watched serial was seen on both channels or timed out; emits one metric.sample per seen serial. */
  async finish(): Promise<PropagationResult> {
    this.finishing = true;
    await this.ocspLoop;
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
   * Every ocspPollMs, asks OCSP about every pending watched serial: many
   * CertIDs per request (each serial is still asked every ocspPollMs, at a
   * hundredth of the requests), at most OCSP_IN_FLIGHT requests at a time.
   */
  private async pollOcsp(): Promise<void> {
    await null; // the caller has stored this loop before it can end and clear it
    for (;;) {
      const startedAt = performance.now();
      const pending = this.watched.filter((w) => w.ocspDelay === undefined && w.deadline > startedAt);
      // Nothing pending: the loop ends (the next sampled ack starts another), so no timer outlives the watch.
      if (this.stopped || pending.length === 0) return void (this.ocspLoop = undefined);
      const size = this.ocspBatch;
      const asks: Promise<void>[] = [];
      for (let i = 0; i < pending.length; i += size) asks.push(this.askOcsp(pending.slice(i, i + size)));
      await Promise.all(asks);
      await sleepUntil(startedAt + this.ocspPollMs);
    }
  }

  /** One OCSP exchange for some pending serials; those answered revoked are seen when the answer arrived. */
  private async askOcsp(chunk: Watched[]): Promise<void> {
    const issuerPem = this.o.issuerPem!;
    const latest = Math.max(...chunk.map((w) => w.deadline));
    if (!(await this.slots.acquire(latest))) return;
    // The slot is held until the exchange settles, even past the deadline: the cap counts what the CA really has in flight.
    const exchange = this.ctx.ca.ocsp(buildOcspRequest(this.issuer!, chunk.map((w) => w.serial)), "POST").finally(() => this.slots.release());
    let der: Uint8Array | undefined;
    try {
      der = await beforeDeadline(exchange, latest);
    } catch (err) {
      count(this.ocspErrors, classifyError(err));
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
    for (const w of chunk) if (answers.get(w.serial)?.status === "revoked") this.seen(w, "ocsp", arrivedAt);
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

/**
 * The watched serials a CRL lists, found as bytes: every occurrence of the
 * DER INTEGER header of their length ("02 10" for 16 octets) is looked up by
 * its next four octets, then compared whole. One pass over the CRL whatever
 * the number of pending serials (about 0.5 s for a 44 MB CRL of a million
 * entries, where pki's full index takes 7 s and a search per serial 13 ms),
 * yielding to the event loop as it goes, so that the watcher's own work does
 * not delay the acknowledgements and OCSP answers it measures.
 *
 * Sound for serials of 8 octets or more (a CA's are 16 random octets): such
 * an encoding does not occur elsewhere in the CRL by chance (about
 * size * 2^-64 at worst); the CRL was checked to decode and to be the
 * issuer's; and the final completeness check decodes every entry (parseCrl).
 */
async function searchCrl(bytes: Buffer, pending: Watched[]): Promise<Watched[]> {
  const found = new Set<Watched>();
  const byHeader = new Map<number, Map<number, Watched[]>>();
  for (const w of pending) {
    const header = w.integer.readUInt16BE(0);
    let byKey = byHeader.get(header);
    if (!byKey) byHeader.set(header, (byKey = new Map()));
    const key = w.integer.readUInt32BE(2);
    byKey.set(key, [...(byKey.get(key) ?? []), w]);
  }
  let steps = 0;
  for (const [header, byKey] of byHeader) {
    const pattern = Buffer.of(header >> 8, header & 0xff);
    for (let at = bytes.indexOf(pattern); at >= 0 && at + 6 <= bytes.length; at = bytes.indexOf(pattern, at + 1)) {
      if (++steps % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const candidates = byKey.get(bytes.readUInt32BE(at + 2));
      if (!candidates) continue;
      for (const w of candidates) {
        const end = at + w.integer.length;
        if (end <= bytes.length && bytes.compare(w.integer, 0, w.integer.length, at, end) === 0) found.add(w);
      }
    }
  }
  return [...found];
}

/**
 * Whether a CRL is the issuing CA's: its issuer name, and its authority key
 * identifier against the CA's subject key identifier where both are given
 * (two CAs may share a name; a test CA's always do).
 */
export function crlOfIssuer(crl: Crl, issuer: Certificate): boolean {
  if (crl.issuer.key !== issuer.subject.key) return false;
  const aki = crl.authorityKeyId?.keyId;
  const ski = issuer.subjectKeyId;
  return aki === undefined || ski === undefined || aki.toLowerCase() === ski.toLowerCase();
}

/** The DER INTEGER of a non-negative serial given as hex: a leading zero octet when the top bit is set. */
export function derInteger(serialHex: string): Buffer {
  let h = normSerial(serialHex);
  if (h.length % 2) h = "0" + h;
  let content = Buffer.from(h, "hex");
  if (content[0] & 0x80) content = Buffer.concat([Buffer.of(0), content]);
  if (content.length > 127) throw new RangeError("serial too long");
  return Buffer.concat([Buffer.of(0x02, content.length), content]);
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

/** A counting semaphore whose waiters give up at a deadline. */
class Slots {
  private inUse = 0;
  private readonly waiters: Array<{ grant: () => void }> = [];
  constructor(private readonly max: number) {}

  acquire(deadline: number): Promise<boolean> {
    if (this.inUse < this.max) {
      this.inUse++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, Math.max(0, deadline - performance.now()));
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.inUse--;
  }
}
