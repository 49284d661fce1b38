/** A shared buffer a CRL is written into, and how many responses still send from it. */
export interface CrlBuffer {
  readonly sab: SharedArrayBuffer;
  /** Responses still writing this CRL to a socket. */
  leases: number;
  /** Holds the CRL being built, or the current one: not to be written. */
  inUse: boolean;
}

/**
 * Output buffers of the CRL worker, reused from CRL to CRL. Why: at
 * 1,000,000 entries a CRL is ~50 MB, and a fresh 50 MB buffer per CRL makes
 * V8 run a full garbage collection of the CA's heap (the store's million
 * serials) each time, pausing the event loop for 2-55 ms (measured with
 * --trace-gc). A buffer is written again only when it is neither the
 * current CRL's nor leased by a response still sending it.
 */
export class CrlBuffers {
  private readonly pool: CrlBuffer[] = [];

  /** A buffer of at least `size` octets, marked in use: a free one, else a new one with headroom for growth. */
  take(size: number): CrlBuffer {
    let b = this.pool.find((x) => !x.inUse && x.leases === 0 && x.sab.byteLength >= size);
    if (!b) {
      // Free ones too small are dropped (the garbage collector reclaims them), so the pool stays small.
      for (let i = this.pool.length - 1; i >= 0; i--) if (!this.pool[i].inUse && this.pool[i].leases === 0) this.pool.splice(i, 1);
      b = { sab: new SharedArrayBuffer(Math.ceil(size * 1.25) + 4096), leases: 0, inUse: false };
      this.pool.push(b);
    }
    b.inUse = true;
    return b;
  }

  /** How many buffers exist (for tests). */
  get size(): number {
    return this.pool.length;
  }
}
