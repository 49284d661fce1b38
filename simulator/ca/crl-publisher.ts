import type { Clock, EventBus } from "../../core/index.js";
import { buildCrl, crlFrame, crlSignatureParts } from "../../pki/index.js";
import { CrlBuffers, type CrlBuffer } from "./crl-buffers.js";
import { CrlEntries } from "./crl-entries.js";
import { CrlWorker } from "./crl-worker.js";
import "./events.js";
import type { CaHierarchy } from "./hierarchy.js";
import { affectsCrl, type StatusChanges } from "./status-changes.js";
import { storageFault, type StorageFaultReason } from "./storage-fault.js";
import type { CaStore } from "./store.js";

declare module "../../core/events.js" {
  interface EventMap {
    /**
     * A CRL could not be signed (a full or read-only store, an I/O error, a signer fault): the CA
     * keeps serving and the schedule tries again after `retryInMs`. The reason and SQLite's result code (`sqlite`), never a secret.
     */
    "ca.crl-failed": { issuer: "issuing" | "root"; reason: StorageFaultReason | "internal"; sqlite?: string; retryInMs?: number };
  }
}

export interface CrlPublisherOptions {
  store: CaStore;
  hierarchy: CaHierarchy;
  clock: Clock;
  /** The status changes it follows: one that alters what the CRL lists makes the next access reissue it. */
  changes: StatusChanges;
  events?: EventBus;
  /** The issuing CA's CRL: nextUpdate - thisUpdate. */
  validityMs: number;
  /** The root's CRL (ARL): nextUpdate - thisUpdate. */
  rootValidityMs: number;
  /**
   * How the issuing CA's CRL is built when served (`serve`, the schedule):
   * "worker" (the default) from entries kept encoded, copied, hashed and
   * signed on a worker thread; "sync", the whole CRL re-encoded and signed on
   * the calling thread, as before issue 13 (kept to measure against).
   */
  build?: "worker" | "sync";
  /** Longest a worker build may take before the worker is deemed wedged, the build fails and the worker restarts (30 s). */
  jobTimeoutMs?: number;
}

interface Signed {
  der: Buffer;
  nextUpdate: number;
  number: bigint;
  /** The worker's shared buffer `der` lies in (reused once this CRL is replaced and no response sends it). */
  buffer?: CrlBuffer;
  /** `der` in ordinary memory, made on first need for in-process callers (shared memory is not for every consumer). */
  copy?: Buffer;
}

/** A CRL lent to a response: `release` once it is sent (or the connection closed), so its buffer can be reused. */
export interface CrlLease {
  der: Buffer;
  release(): void;
}

/** The issuing key as the worker can use it: a file's KeyObject, or a signer of digests (SoftHSM) on this thread. */
export interface CrlKeyAccess {
  privateKey?: import("node:crypto").KeyObject;
  signDigest?(digest: Uint8Array): Uint8Array;
}

/**
 * Generation and cache of the CA's CRLs (Boulder's crl-updater, the signing
 * half): the issuing CA's full CRL over its end-entity certificates, and the
 * root's ARL. It follows the CA's StatusChanges itself: a CRL is reissued on
 * access when something it lists changed since, or when it is past half its
 * validity at the CA's clock. When to reissue without anyone asking is
 * CrlSchedule's job, not this one's.
 *
 * Served CRLs (serve, lease, the schedule) are built from entries kept
 * encoded (crl-entries.ts) and copied, hashed and signed on a worker thread
 * (crl-worker.ts) into reused buffers (crl-buffers.ts): at 1,000,000 entries
 * the event loop keeps a few milliseconds of it (issue 13). `current` and
 * `reissue` are the synchronous path, as before: everything on this thread.
 */
export class CrlPublisher {
  private issuing?: Signed;
  private root?: Signed;
  /** Counts the changes that alter the CRL; `built` is the count the current CRL includes. */
  private changeCount = 0;
  private built = -1;
  private readonly reissued: Array<() => void> = [];
  private entries?: CrlEntries;
  private worker?: CrlWorker;
  private readonly buffers = new CrlBuffers();
  /** The build in flight (one at a time) and the change count it was asked for: callers asking at that count share it. */
  private inflight?: { asked: number; done: Promise<Buffer> };

  constructor(private readonly o: CrlPublisherOptions) {
    o.changes.on((change) => {
      if (affectsCrl(change)) this.changeCount++;
    });
    if ((o.build ?? "worker") === "worker" && this.keyAccess()) {
      // Registered after the counter: by the time a change is counted, the entries include it.
      this.entries = new CrlEntries(o.store, o.changes);
      this.worker = new CrlWorker(o.jobTimeoutMs);
    }
  }

  close(): void {
    this.worker?.close();
  }

  private keyAccess(): CrlKeyAccess | undefined {
    const issuing = this.o.hierarchy.issuing as { privateKey?: CrlKeyAccess["privateKey"]; signer: CrlKeyAccess };
    if (issuing.privateKey) return { privateKey: issuing.privateKey };
    const signer = issuing.signer;
    if (typeof signer.signDigest === "function") return { signDigest: (d) => signer.signDigest!(d) };
    return undefined;
  }

  /** Called after every reissue of the issuing CA's CRL, whoever asked for it. */
  onReissued(listener: () => void): void {
    this.reissued.push(listener);
  }

  /** Which signed CRLs are past half their validity at the CA's clock (a CRL not yet signed is not due: it is made on first access). */
  due(): { issuing: boolean; root: boolean } {
    const now = this.o.clock.nowMs();
    return {
      issuing: this.issuing !== undefined && pastHalf(this.issuing, this.o.validityMs, now),
      root: this.root !== undefined && pastHalf(this.root, this.o.rootValidityMs, now),
    };
  }

  /** Whether the issuing CA's CRL must be (re)signed before it is served: never signed, a change since, or past half its validity. */
  stale(): boolean {
    const c = this.issuing;
    return !c || this.built !== this.changeCount || pastHalf(c, this.o.validityMs, this.o.clock.nowMs());
  }

  /**
   * The issuing CA's CRL for a server: the current one, or one that includes
   * every change made before this call. Concurrent callers share one build;
   * with the worker build the event loop stays free meanwhile. Rejects if
   * the store or the signer fails (the CRL stays stale).
   */
  async serve(): Promise<Buffer> {
    await this.fresh();
    const c = this.issuing!;
    return c.buffer ? (c.copy ??= Buffer.from(c.der)) : c.der;
  }

  /**
   * As `serve`, for a server sending the CRL as is, without a copy: the
   * octets stay valid until `release` (call it when the response ends).
   */
  async lease(): Promise<CrlLease> {
    await this.fresh();
    const c = this.issuing!;
    const b = c.buffer;
    if (!b) return { der: c.der, release: () => undefined };
    b.leases++;
    let done = false;
    return {
      der: c.der,
      release: () => {
        if (!done) b.leases--;
        done = true;
      },
    };
  }

  /** Resolves once the current CRL includes every change before the call (concurrent callers share one build). */
  private async fresh(): Promise<void> {
    if (!this.stale()) return;
    if (this.inflight && this.inflight.asked === this.changeCount) await this.inflight.done;
    else {
      // A request's build that fails (the store, a wedged worker: crl-worker.ts times it out) is reported as the
      // schedule's are, by the caller that started it only; the request gets the error, never a wait for ever.
      await this.reissueAsync().catch((err: unknown) => {
        this.reportFailure("issuing", err);
        throw err;
      });
    }
  }

  /** Signs a new issuing-CA CRL including every change so far, after the build in flight if any (its DER may lie in a reused shared buffer: callers lend or copy it). */
  private reissueAsync(): Promise<Buffer> {
    if (!this.worker) {
      try {
        return Promise.resolve(this.reissue());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const before = this.inflight?.done.catch(() => undefined);
    const done = (before ? before.then(() => this.buildOffThread()) : this.buildOffThread()).finally(() => {
      if (this.inflight?.done === done) this.inflight = undefined;
    });
    this.inflight = { asked: this.changeCount, done };
    return done;
  }

  /** The snapshot, the number and the frame here (milliseconds); copy, hash and sign on the worker. */
  private async buildOffThread(): Promise<Buffer> {
    const { store, hierarchy } = this.o;
    const issuing = hierarchy.issuing;
    const key = this.keyAccess()!;
    const thisUpdate = Math.floor(this.o.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.o.validityMs;
    const counted = this.changeCount;
    const entries = this.entries!.snapshot();
    let number = 0n;
    store.transaction(() => {
      number = BigInt(store.meta("crl_number") ?? "0") + 1n;
      store.setMeta("crl_number", number.toString());
    });
    const { head, tail } = crlFrame({ issuerName: issuing.name, issuerKeyId: issuing.keyId, algorithm: issuing.signer.algorithm, crlNumber: number, thisUpdate, nextUpdate }, entries.length);
    const before = 8;
    const after = issuing.signer.algorithm.length + 1024;
    const buffer = this.buffers.take(before + head.length + entries.length + tail.length + after);
    let der: Buffer;
    try {
      const r = await this.worker!.run({ head, tail, entries, key: key.privateKey, out: buffer.sab, before, after });
      const signature = r.signature ? new Uint8Array(r.signature) : key.signDigest!(new Uint8Array(r.digest!));
      // Complete the CertificateList in the shared buffer: outer header before the TBS, signature after it.
      const out = Buffer.from(buffer.sab);
      const { header, trailer } = crlSignatureParts(issuing.signer.algorithm, signature, r.tbsEnd - r.tbsStart);
      const start = r.tbsStart - header.length;
      header.copy(out, start);
      trailer.copy(out, r.tbsEnd);
      der = out.subarray(start, r.tbsEnd + trailer.length);
    } catch (err) {
      buffer.inUse = false;
      throw err;
    }
    if (!this.install(der, nextUpdate, number, counted, entries.count, buffer)) buffer.inUse = false;
    return der;
  }

  /** Makes a signed CRL the current one, unless a newer one (a higher number) already is; whether it did. */
  private install(der: Buffer, nextUpdate: number, number: bigint, counted: number, entries: number, buffer?: CrlBuffer): boolean {
    if (this.issuing && this.issuing.number > number) return false;
    if (this.issuing?.buffer) this.issuing.buffer.inUse = false; // free once no response sends it
    this.built = counted;
    this.issuing = { der, nextUpdate, number, buffer };
    for (const l of this.reissued) l();
    this.o.events?.emit("ca.crl", { number: number.toString(), entries, bytes: der.length, issuer: "issuing" });
    return true;
  }

  /** The issuing CA's CRL, regenerated (on this thread) if a revocation happened since or if it is past half its validity at the CA's clock. */
  current(): Buffer {
    if (this.stale()) return this.reissue();
    const c = this.issuing!;
    return c.buffer ? (c.copy ??= Buffer.from(c.der)) : c.der;
  }

  /**
   * Signs the CRLs `which` names, for background callers (the schedule's
   * timers): it never rejects. A failure is an event, "ca.crl-failed" with its
   * reason, and `false`; the CRL stays stale, so the next attempt signs it.
   */
  async tryReissue(which: { issuing: boolean; root: boolean }, retryInMs?: number): Promise<boolean> {
    let ok = true;
    for (const issuer of ["issuing", "root"] as const) {
      if (!which[issuer]) continue;
      try {
        if (issuer === "issuing") await this.reissueAsync();
        else this.reissueRoot();
      } catch (err) {
        ok = false;
        this.reportFailure(issuer, err, retryInMs);
      }
    }
    return ok;
  }

  /** "ca.crl-failed" with its reason; never throws (a background task must not end the process). */
  private reportFailure(issuer: "issuing" | "root", err: unknown, retryInMs?: number): void {
    const fault = storageFault(err);
    try {
      this.o.events?.emit("ca.crl-failed", { issuer, reason: fault?.reason ?? "internal", ...(fault ? { sqlite: fault.code } : {}), ...(retryInMs === undefined ? {} : { retryInMs }) });
    } catch {
      // The run log itself failed: nothing left to report to.
    }
  }

  /** The root's CRL, reissued when past half its validity at the CA's clock. */
  currentRoot(): Buffer {
    const c = this.root;
    if (!c || pastHalf(c, this.o.rootValidityMs, this.o.clock.nowMs())) return this.reissueRoot();
    return c.der;
  }

  /**
   * Signs a new issuing-CA CRL now, on this thread, re-encoding every entry
   * (the synchronous path: `current()`, and the "sync" build); throws if the
   * store or the signer fails (then the CRL stays stale).
   */
  reissue(): Buffer {
    const { store, hierarchy } = this.o;
    const thisUpdate = Math.floor(this.o.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.o.validityMs;
    const counted = this.changeCount;
    let der!: Buffer;
    let number = 0n;
    let entries = 0;
    // Read the revoked set and bump the number in one transaction: a consistent snapshot.
    store.transaction(() => {
      number = BigInt(store.meta("crl_number") ?? "0") + 1n;
      store.setMeta("crl_number", number.toString());
      const rows = store.revoked();
      const counting = (function* () {
        for (const r of rows) {
          entries++;
          yield r;
        }
      })();
      const issuing = hierarchy.issuing;
      der = buildCrl({ issuerName: issuing.name, issuerKeyId: issuing.keyId, signer: issuing.signer, crlNumber: number, thisUpdate, nextUpdate, entries: counting });
    });
    // Copy out of the writer's larger backing buffer.
    der = Buffer.from(der);
    // Current only once signed and committed: a failed reissue (a full disk) leaves it stale, so nobody serves the old one as current.
    this.install(der, nextUpdate, number, counted, entries);
    return der;
  }

  /**
   * Signs a new root CRL. The root has issued only the issuing CA certificate,
   * and the CA offers no way to revoke that, so the list is empty: what matters
   * is that it is there, signed and current, so that revocation can be
   * required for every certificate of a path (RFC 5280 6.3).
   */
  reissueRoot(): Buffer {
    const { store } = this.o;
    const thisUpdate = Math.floor(this.o.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.o.rootValidityMs;
    let number = 0n;
    let der!: Buffer;
    store.transaction(() => {
      number = BigInt(store.meta("root_crl_number") ?? "0") + 1n;
      store.setMeta("root_crl_number", number.toString());
      const root = this.o.hierarchy.root;
      der = Buffer.from(
        buildCrl({ issuerName: root.name, issuerKeyId: root.keyId, signer: root.signer, crlNumber: number, thisUpdate, nextUpdate, entries: [], onlyCaCerts: true }),
      );
    });
    this.root = { der, nextUpdate, number };
    this.o.events?.emit("ca.crl", { number: number.toString(), entries: 0, bytes: der.length, issuer: "root" });
    return der;
  }
}

/** Past half its validity at `now`: time to sign the next one (relying parties may cache it until nextUpdate). */
function pastHalf(crl: { nextUpdate: number }, validityMs: number, now: number): boolean {
  return now >= crl.nextUpdate - validityMs / 2;
}
