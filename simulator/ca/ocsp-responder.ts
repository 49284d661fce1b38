import type { Clock } from "../../core/index.js";
import { buildOcspResponse, DecodeError, errorResponse, issuerHashes, OcspStatus, parseOcspRequest, type CertStatusSpec, type SingleResponseSpec } from "../../pki/index.js";
import type { CaHierarchy } from "./hierarchy.js";
import type { StatusChanges } from "./status-changes.js";
import { Status, type StatusCode } from "./store.js";

export interface OcspLookup {
  (serial: string): { status: StatusCode; revokedAt: number | null; reason: number | null } | undefined;
}

interface CacheEntry {
  certIdKey: string;
  response: Uint8Array;
  expiresAt: number;
}

const MAX_REQUESTS = 64;
const RENEW_MARGIN_MS = 7 * 86_400_000;

/**
 * Answers OCSP requests for the issuing CA. Nonce-less single requests (the
 * common, cacheable case) are served from a per-serial cache of signed
 * responses; it follows the CA's StatusChanges, so any change to a serial
 * (issue, revoke, hold, release, supersede) drops its entry and a revocation
 * is visible on the very next request.
 */
export class OcspResponder {
  private readonly cache = new Map<string, CacheEntry>();
  /** Raw nonce-less request bytes (latin1) -> serial: a repeated request skips parsing entirely. */
  private readonly seen = new Map<string, { serial: string; certIdKey: string }>();
  private readonly hashes: ReturnType<typeof issuerHashes>;
  /** `changes` is required: a responder that did not follow them would serve a cached "good" after a revocation. */
  constructor(
    private readonly o: { clock: Clock; hierarchy: CaHierarchy; validityMs: number; lookup: OcspLookup; changes: StatusChanges; maxCache?: number },
  ) {
    this.hashes = issuerHashes(o.hierarchy.issuing.name, o.hierarchy.issuing.signer.spki);
    o.changes.on((change) => {
      for (const serial of change.serials) this.invalidate(serial);
    });
  }

  private invalidate(serial: string): void {
    this.cache.delete(serial);
  }

  clear(): void {
    this.cache.clear();
    this.seen.clear();
  }

  /** DER in, DER out; never throws. */
  handle(der: Uint8Array): Uint8Array {
    const raw = der.length <= 512 ? Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("latin1") : undefined;
    if (raw !== undefined) {
      const seen = this.seen.get(raw);
      const hit = seen === undefined ? undefined : this.cache.get(seen.serial);
      // the cached entry must be for this very CertID (a client may ask with SHA-1 or SHA-256)
      if (hit && hit.certIdKey === seen!.certIdKey && this.o.clock.nowMs() < hit.expiresAt) return hit.response;
    }
    let req;
    try {
      req = parseOcspRequest(der);
      if (req.certIds.length > MAX_REQUESTS) return errorResponse(OcspStatus.malformedRequest);
    } catch (err) {
      if (err instanceof DecodeError || err instanceof RangeError || err instanceof TypeError) return errorResponse(OcspStatus.malformedRequest);
      return errorResponse(OcspStatus.internalError);
    }
    try {
      const now = this.o.clock.nowMs();
      this.renewResponderIfNeeded(now);
      const single = req.certIds.length === 1 && !req.nonceExtension ? req.certIds[0] : undefined;
      if (single) {
        const key = Buffer.from(single.der).toString("latin1");
        const hit = this.cache.get(single.serialHex);
        if (hit && hit.certIdKey === key && now < hit.expiresAt) return hit.response;
        const response = this.sign(now, [this.single(single, now)]);
        if (this.cache.size >= (this.o.maxCache ?? 200_000)) this.clear(); // crude bound; the cache is only an accelerator
        this.cache.set(single.serialHex, { certIdKey: key, response, expiresAt: now + Math.min(this.o.validityMs, 5 * 60_000) });
        if (raw !== undefined) this.seen.set(raw, { serial: single.serialHex, certIdKey: key });
        return response;
      }
      return this.sign(now, req.certIds.map((c) => this.single(c, now)), req.nonceExtension);
    } catch {
      return errorResponse(OcspStatus.internalError);
    }
  }

  private single(c: { der: Uint8Array; hashAlgorithm: string; issuerNameHash: Uint8Array; issuerKeyHash: Uint8Array; serialHex: string }, now: number): SingleResponseSpec {
    const thisUpdate = Math.floor(now / 1000) * 1000;
    const base = { certId: c.der, thisUpdate, nextUpdate: thisUpdate + this.o.validityMs };
    const h = this.hashes.get(c.hashAlgorithm);
    const ours = h !== undefined && h.name.equals(c.issuerNameHash) && h.key.equals(c.issuerKeyHash);
    if (!ours) return { ...base, status: { kind: "unknown" } };
    const row = this.o.lookup(c.serialHex);
    let status: CertStatusSpec;
    if (!row) status = { kind: "unknown" };
    else if (row.status === Status.good) status = { kind: "good" };
    else status = { kind: "revoked", at: row.revokedAt ?? 0, reason: row.reason };
    return { ...base, status };
  }

  private sign(now: number, responses: SingleResponseSpec[], nonce?: Uint8Array): Uint8Array {
    return buildOcspResponse(this.o.hierarchy.responder, now, responses, nonce);
  }

  private renewResponderIfNeeded(now: number): void {
    if (now >= this.o.hierarchy.responder.notAfter - RENEW_MARGIN_MS) {
      this.o.hierarchy.renewResponder();
      this.cache.clear();
    }
  }
}
