import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * The served CA's limits (issue 11, defect 3: 80-96 parallel anonymous 60 MB
 * bodies ended the process, and CRL and OCSP with it). Every limit is checked
 * before the work it protects: sizes before a body is read, credentials
 * before a body is read where the route needs one (http.ts), depth before
 * JSON.parse. What each protects is in simulator/ca/README.md's threat model.
 */
export interface HttpLimits {
  /** Issuance and renewal: a CSR (a 4096-bit RSA CSR in PEM is ~1.7 KB) plus holder fields and a proof. */
  csrBodyBytes: number;
  /** Revoke, release, unlock, renewal challenge, clock: a handful of short fields. */
  smallBodyBytes: number;
  /**
   * Bulk revocation (operator only): 1 MiB holds ~20,000 serials of up to 20
   * octets (40 hex digits + quotes + comma = 43 bytes each; ~29,000 of 16 octets).
   */
  bulkBodyBytes: number;
  /** Deepest JSON nesting accepted (the API's deepest body is 3: holder.registration). */
  jsonDepth: number;
  /** Longest time a client may take to send the request headers (slowloris on headers). */
  headersTimeoutMs: number;
  /** Longest time a client may take to send a whole request, body included (slowloris on bodies). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Requests one client address may have open at once (OCSP included); above: 429. */
  requestsPerClient: number;
  /** Connections one client address may hold at once (open or idle); above: closed at once. */
  connectionsPerClient: number;
  /** Request body bytes all clients together may have in memory at once; above: 503 "busy". */
  bodyBudgetBytes: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  csrBodyBytes: 32 * KIB,
  smallBodyBytes: 4 * KIB,
  bulkBodyBytes: 1 * MIB,
  jsonDepth: 8,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 10_000,
  requestsPerClient: 16,
  // wrk-style OCSP clients keep 64 connections from one address; 128 leaves room, and bounds idle sockets per attacker.
  connectionsPerClient: 128,
  bodyBudgetBytes: 16 * MIB,
});

/** The defaults with `given` on top; headersTimeout never above requestTimeout (node refuses that). */
export function httpLimits(given: Partial<HttpLimits> = {}): HttpLimits {
  const l = { ...DEFAULT_HTTP_LIMITS, ...given };
  if (l.requestTimeoutMs > 0 && l.headersTimeoutMs > l.requestTimeoutMs) l.headersTimeoutMs = l.requestTimeoutMs;
  return l;
}

interface ClientEntry {
  address: string;
  requests: number;
  connections: number;
}

const SLOT = Symbol("cardloop.client-slot");
type Slotted = ServerResponse & { [SLOT]?: ClientEntry };

/**
 * Per-client-address counters (open requests, connections) and the global
 * budget of request body bytes held in memory. One instance per server.
 */
export class ClientGate {
  private readonly clients = new Map<string, ClientEntry>();
  private bodyBytes = 0;
  private readonly release: (this: Slotted) => void;

  constructor(private readonly limits: HttpLimits) {
    const gate = this;
    // One shared listener (no closure per request: OCSP is the hot path); the entry rides on the response.
    this.release = function (this: Slotted) {
      const e = this[SLOT];
      if (!e) return;
      this[SLOT] = undefined;
      e.requests--;
      gate.forget(e);
    };
  }

  /**
   * Counts a new connection; false (and the socket destroyed) when its address
   * holds too many already. By socket address (no request has been read yet);
   * a trusted proxy's sockets carry everyone's requests and are not capped.
   */
  admitConnection(socket: Socket, trustedProxy: boolean): boolean {
    if (trustedProxy) return true;
    const e = this.entry(`socket:${socket.remoteAddress ?? "?"}`);
    if (e.connections >= this.limits.connectionsPerClient) {
      this.forget(e);
      socket.destroy();
      return false;
    }
    e.connections++;
    socket.once("close", () => {
      e.connections--;
      this.forget(e);
    });
    return true;
  }

  /** Takes a request slot for `client` (clientAddress) until the response closes; false when none is free (answer 429). */
  enter(client: string, res: ServerResponse): boolean {
    const e = this.entry(client);
    if (e.requests >= this.limits.requestsPerClient) {
      this.forget(e);
      return false;
    }
    e.requests++;
    (res as Slotted)[SLOT] = e;
    res.on("close", this.release); // `on`, not `once`: no wrapper per request (release is idempotent)
    return true;
  }

  /** Reserves `n` body bytes of the global budget; false when they do not fit (answer 503 "busy"). */
  reserve(n: number): boolean {
    if (this.bodyBytes + n > this.limits.bodyBudgetBytes) return false;
    this.bodyBytes += n;
    return true;
  }

  unreserve(n: number): void {
    this.bodyBytes = Math.max(0, this.bodyBytes - n);
  }

  private entry(address: string): ClientEntry {
    let e = this.clients.get(address);
    if (!e) this.clients.set(address, (e = { address, requests: 0, connections: 0 }));
    return e;
  }

  private forget(e: ClientEntry): void {
    if (e.requests === 0 && e.connections === 0) this.clients.delete(e.address);
  }
}
