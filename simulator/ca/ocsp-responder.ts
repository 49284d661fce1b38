import { sign as nodeSign } from "node:crypto";
import type { Clock } from "../../core/index.js";
import { buildOcspResponse, DecodeError, errorResponse, issuerHashes, ocspResponseData, OcspStatus, parseOcspRequest, signedOcspResponse, type CertStatusSpec, type OcspRequestCertId, type SingleResponseSpec } from "../../pki/index.js";
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
/** RFC 8954 2.1: Nonce ::= OCTET STRING (SIZE(1..32)); a request with another length is malformedRequest. */
const MIN_NONCE = 1;
const MAX_NONCE = 32;

const RENEW_MARGIN_MS = 7 * 86_400_000;

/**
 * Answers OCSP requests for the issuing CA. Nonce-less single requests (the
 * common, cacheable case) are served from a per-serial cache of signed
 * responses; it follows the CA's StatusChanges, so any change to a serial
 * (issue, revoke, hold, release, supersede) drops its entry and a revocation
 * is visible on the very next request.
 *
 * Authority (RFC 6960 2.3, RFC 5019 2.2.3): a CertID whose issuerNameHash and
 * issuerKeyHash are not the issuing CA's (another CA, or a hash algorithm this
 * responder does not compute: SHA-1, SHA-256, SHA-384 and SHA-512 it does) gets the unsigned
 * `unauthorized` status, never a signed `unknown`: this responder cannot speak
 * for that issuer. A request mixing the issuing CA's CertIDs with another
 * issuer's is unauthorized as a whole: responseStatus covers the whole
 * response, RFC 5019 2.1.1 has clients send one CertID per request, and a
 * signed answer for part of a request would hide that the rest was refused.
 * Nonces (RFC 8954 2.1): 1 to 32 octets are echoed; 0 or more than 32, a
 * nonce extnValue that is not an OCTET STRING, or an extension pki's request
 * reader refuses (e.g. critical FALSE encoded: the echo must be DER, as pki
 * reads responses), are malformedRequest. RFC 9654
 * (2024) obsoletes 8954 and allows up to 128 (`maxNonceOctets`); clients of
 * either send 32, so the stricter limit is the default.
 */
export class OcspResponder {
  private readonly cache = new Map<string, CacheEntry>();
  /** Raw nonce-less request bytes (latin1) -> serial: a repeated request skips parsing entirely. */
  private readonly seen = new Map<string, { serial: string; certIdKey: string }>();
  private readonly hashes: ReturnType<typeof issuerHashes>;
  private readonly maxNonce: number;
  /** Signatures on libuv's thread pool now, and the most allowed (see signOffThread). */
  private signing = 0;
  private readonly maxSigning: number;
  /** `changes` is required: a responder that did not follow them would serve a cached "good" after a revocation. */
  constructor(
    private readonly o: { clock: Clock; hierarchy: CaHierarchy; validityMs: number; lookup: OcspLookup; changes: StatusChanges; maxCache?: number; maxNonceOctets?: number; maxOffThreadSignatures?: number },
  ) {
    const max = o.maxNonceOctets ?? MAX_NONCE;
    if (!Number.isSafeInteger(max) || max < MIN_NONCE) throw new RangeError(`the longest OCSP nonce must be a whole number of octets from ${MIN_NONCE} (got ${max})`);
    this.maxNonce = max;
    // Twice libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise): enough to keep it busy, and a
    // holder's scrypt check waits behind at most that many signatures.
    this.maxSigning = o.maxOffThreadSignatures ?? 2 * (Number(process.env.UV_THREADPOOL_SIZE) || 4);
    this.hashes = issuerHashes(o.hierarchy.issuing.name, o.hierarchy.issuing.signer.spki); // SHA-1, SHA-256, SHA-384, SHA-512
    o.changes.on((change) => {
      try {
        for (const serial of change.serials) this.invalidate(serial);
      } catch (err) {
        this.clear(); // fail safe: no cached answer may outlive a change it missed
        throw err; // reported by StatusChanges
      }
    });
  }

  private invalidate(serial: string): void {
    this.cache.delete(serial);
  }

  clear(): void {
    this.cache.clear();
    this.seen.clear();
  }

  /** DER in, DER out; never throws. Every signature on this thread. */
  handle(der: Uint8Array): Uint8Array {
    return this.answer(der, false) as Uint8Array;
  }

  /**
   * As `handle`, for a server: a response that must be signed fresh (a
   * nonce, several CertIDs) is signed on libuv's thread pool (node's
   * crypto.sign with a callback), so the event loop parses, builds and sends
   * other requests meanwhile, and a second core signs. Cached answers come
   * back synchronously. The promise never rejects (internalError instead).
   */
  handleAsync(der: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.answer(der, this.o.hierarchy.responder.privateKey !== undefined);
  }

  private answer(der: Uint8Array, offThread: boolean): Uint8Array | Promise<Uint8Array> {
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
      const nonce = req.nonce;
      if (nonce !== undefined && (nonce.length < MIN_NONCE || nonce.length > this.maxNonce)) return errorResponse(OcspStatus.malformedRequest);
    } catch (err) {
      if (err instanceof DecodeError || err instanceof RangeError || err instanceof TypeError) return errorResponse(OcspStatus.malformedRequest);
      return errorResponse(OcspStatus.internalError);
    }
    if (!req.certIds.every((c) => this.serves(c))) return errorResponse(OcspStatus.unauthorized);
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
      const responses = req.certIds.map((c) => this.single(c, now));
      return offThread ? this.signOffThread(now, responses, req.nonceExtension) : this.sign(now, responses, req.nonceExtension);
    } catch {
      return errorResponse(OcspStatus.internalError);
    }
  }

  /** The CertID names the issuing CA: both hashes match, in a hash algorithm this responder computes. */
  private serves(c: OcspRequestCertId): boolean {
    const h = this.hashes.get(c.hashAlgorithm);
    return h !== undefined && h.name.equals(c.issuerNameHash) && h.key.equals(c.issuerKeyHash);
  }

  /** The answer for one CertID of the issuing CA (`serves` is true): good, revoked, or unknown for a serial it never issued. */
  private single(c: OcspRequestCertId, now: number): SingleResponseSpec {
    const thisUpdate = Math.floor(now / 1000) * 1000;
    const base = { certId: c.der, thisUpdate, nextUpdate: thisUpdate + this.o.validityMs };
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

  /** The ResponseData built here; its signature made on the thread pool; the response completed here. */
  private signOffThread(now: number, responses: SingleResponseSpec[], nonce?: Uint8Array): Promise<Uint8Array> {
    const responder = this.o.hierarchy.responder;
    // Bounded (review R1 B5): the pool is FIFO and shared with the credential checks' scrypt, so a flood of
    // nonce'd requests must not queue there without limit. Past the bound: tryLater, unsigned (RFC 6960 2.3),
    // the client asks again; signing here instead would stall every other request on the event loop.
    if (this.signing >= this.maxSigning) return Promise.resolve(errorResponse(OcspStatus.tryLater));
    const tbs = ocspResponseData(responder, now, responses, nonce);
    this.signing++;
    return new Promise((resolve) => {
      nodeSign("sha256", tbs, responder.privateKey!, (err, signature) => {
        this.signing--;
        if (err) return resolve(errorResponse(OcspStatus.internalError));
        try {
          resolve(signedOcspResponse(responder, tbs, signature));
        } catch {
          resolve(errorResponse(OcspStatus.internalError));
        }
      });
    });
  }

  private renewResponderIfNeeded(now: number): void {
    if (now >= this.o.hierarchy.responder.notAfter - RENEW_MARGIN_MS) {
      this.o.hierarchy.renewResponder();
      this.cache.clear();
    }
  }
}
