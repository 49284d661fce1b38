import type { Clock, EventBus } from "../../core/index.js";
import { buildCrl } from "../../pki/index.js";
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
}

interface Signed {
  der: Buffer;
  nextUpdate: number;
}

/**
 * Generation and cache of the CA's CRLs (Boulder's crl-updater, the signing
 * half): the issuing CA's full CRL over its end-entity certificates, and the
 * root's ARL. It follows the CA's StatusChanges itself: a CRL is reissued on
 * access when something it lists changed since, or when it is past half its
 * validity at the CA's clock. When to reissue without anyone asking is
 * CrlSchedule's job, not this one's.
 */
export class CrlPublisher {
  private issuing?: Signed;
  private root?: Signed;
  private dirty = true;
  private readonly reissued: Array<() => void> = [];

  constructor(private readonly o: CrlPublisherOptions) {
    o.changes.on((change) => {
      if (affectsCrl(change)) this.dirty = true;
    });
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
    return !c || this.dirty || pastHalf(c, this.o.validityMs, this.o.clock.nowMs());
  }

  /** The issuing CA's CRL, regenerated if a revocation happened since or if it is past half its validity at the CA's clock. */
  current(): Buffer {
    return this.stale() ? this.reissue() : this.issuing!.der;
  }

  /**
   * Signs the CRLs `which` names, for background callers (the schedule's
   * timers): it never throws. A failure is an event, "ca.crl-failed" with its
   * reason, and `false`; the CRL stays stale, so the next attempt signs it.
   */
  tryReissue(which: { issuing: boolean; root: boolean }, retryInMs?: number): boolean {
    let ok = true;
    for (const issuer of ["issuing", "root"] as const) {
      if (!which[issuer]) continue;
      try {
        if (issuer === "issuing") this.reissue();
        else this.reissueRoot();
      } catch (err) {
        ok = false;
        const fault = storageFault(err);
        try {
          this.o.events?.emit("ca.crl-failed", { issuer, reason: fault?.reason ?? "internal", ...(fault ? { sqlite: fault.code } : {}), ...(retryInMs === undefined ? {} : { retryInMs }) });
        } catch {
          // The run log itself failed: nothing left to report to, and a background task must not end the process.
        }
      }
    }
    return ok;
  }

  /** The root's CRL, reissued when past half its validity at the CA's clock. */
  currentRoot(): Buffer {
    const c = this.root;
    if (!c || pastHalf(c, this.o.rootValidityMs, this.o.clock.nowMs())) return this.reissueRoot();
    return c.der;
  }

  /** Signs a new issuing-CA CRL now; throws if the store or the signer fails (then the CRL stays stale). */
  reissue(): Buffer {
    const { store, hierarchy } = this.o;
    const thisUpdate = Math.floor(this.o.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.o.validityMs;
    let der!: Buffer;
    let number = 0n;
    let entries = 0;
    // Read the revoked set and bump the number in one transaction: a consistent snapshot.
    store.transaction(() => {
      number = BigInt(store.meta("crl_number") ?? "0") + 1n;
      store.setMeta("crl_number", number.toString());
      const rows = store.revoked();
      const counted = (function* () {
        for (const r of rows) {
          entries++;
          yield r;
        }
      })();
      const issuing = hierarchy.issuing;
      der = buildCrl({ issuerName: issuing.name, issuerKeyId: issuing.keyId, signer: issuing.signer, crlNumber: number, thisUpdate, nextUpdate, entries: counted });
    });
    // Copy out of the writer's larger backing buffer.
    der = Buffer.from(der);
    // Clean only once signed and committed: a failed reissue (a full disk) leaves it stale, so nobody serves the old one as current.
    this.dirty = false;
    this.issuing = { der, nextUpdate };
    for (const l of this.reissued) l();
    this.o.events?.emit("ca.crl", { number: number.toString(), entries, bytes: der.length, issuer: "issuing" });
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
    this.root = { der, nextUpdate };
    this.o.events?.emit("ca.crl", { number: number.toString(), entries: 0, bytes: der.length, issuer: "root" });
    return der;
  }
}

/** Past half its validity at `now`: time to sign the next one (relying parties may cache it until nextUpdate). */
function pastHalf(crl: { nextUpdate: number }, validityMs: number, now: number): boolean {
  return now >= crl.nextUpdate - validityMs / 2;
}
