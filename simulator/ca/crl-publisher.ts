import type { Clock, EventBus } from "../../core/index.js";
import { buildCrl } from "../../pki/index.js";
import "./events.js";
import type { CaHierarchy } from "./hierarchy.js";
import { affectsCrl, type StatusChanges } from "./status-changes.js";
import type { CaStore } from "./store.js";

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
      issuing: this.issuing !== undefined && now >= this.issuing.nextUpdate - this.o.validityMs / 2,
      root: this.root !== undefined && now >= this.root.nextUpdate - this.o.rootValidityMs / 2,
    };
  }

  /** The issuing CA's CRL, regenerated if a revocation happened since or if it is past half its validity at the CA's clock. */
  current(): Buffer {
    const c = this.issuing;
    if (!c || this.dirty || this.o.clock.nowMs() >= c.nextUpdate - this.o.validityMs / 2) return this.reissue();
    return c.der;
  }

  /** The root's CRL, reissued when past half its validity at the CA's clock. */
  currentRoot(): Buffer {
    const c = this.root;
    if (!c || this.o.clock.nowMs() >= c.nextUpdate - this.o.rootValidityMs / 2) return this.reissueRoot();
    return c.der;
  }

  /** Signs a new issuing-CA CRL now. */
  reissue(): Buffer {
    const { store, hierarchy } = this.o;
    const thisUpdate = Math.floor(this.o.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.o.validityMs;
    this.dirty = false;
    for (const l of this.reissued) l();
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
    this.issuing = { der, nextUpdate };
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
