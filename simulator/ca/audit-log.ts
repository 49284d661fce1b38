import { isRevocationReason, type Clock } from "../../core/index.js";
import { sourceOf, type Caller } from "./api.js";
import type { AuditEntry, CaStore } from "./store.js";

/**
 * The audit trail as the services write it: every stored string checked
 * against a fixed vocabulary (never a value from the request verbatim), and
 * refusals by callers who proved nothing rate-limited, so that an anonymous
 * flood cannot grow the table (or fsync a row per request).
 *
 * Rate limit: per (source, action, outcome), at most `perMinute` rows per
 * minute of the CA's clock; the rest are counted in memory and written as
 * one row (outcome "suppressed", detail the count) when the minute is over
 * (on the next audit write or read) or at close().
 */

const AUDIT_ROLES: ReadonlySet<string> = new Set([
  "holder",
  "legal-representative",
  "authorised-representative",
  "operator",
  "ra",
  "card",
  "anonymous",
]);

const AUDIT_ACTIONS: ReadonlySet<string> = new Set(["issue", "revoke", "release", "unlock", "bulk-revoke", "renew", "audit", "clock"]);

/** Outcomes: "ok", the CA's refusal reasons, and the lockout's words. */
const AUDIT_OUTCOMES: ReadonlySet<string> = new Set([
  "ok",
  "denied",
  "denied-and-backoff",
  "already-revoked",
  "already-on-hold",
  "not-on-hold",
  "not-found",
  "bad-request",
  "reason-not-allowed",
  "credential-required",
  "bad-credential",
  "forbidden",
  "too-many-attempts",
  "suppressed",
  "renewal-unauthorised",
  "bad-challenge",
  "bad-proof",
  "no-card",
  "bad-serial",
  "bad-csr",
  "bad-csr-signature",
  "weak-key",
  "bad-card-expiry",
  "card-expired",
  "bad-name",
  "bad-holder",
  "storage-unavailable",
  "closed",
]);

/** Details besides revocation reasons, counts and the renewal summary: the refusal reasons of validation.ts. */
const DETAILS: ReadonlySet<string> = new Set(["bad-serial", "bad-serials", "bad-reason", "bad-role", "bad-request", ...AUDIT_OUTCOMES]);
const RENEWAL_DETAIL = /^\{"newSerial":"[0-9a-f]{2,40}","superseded":(true|false)\}$/;
const SERIAL = /^[0-9a-f]{2,40}$/;

/**
 * Refusals that come before the caller proved anything: malformed requests,
 * unknown serials, reasons the role may not give, missing or invalid tokens,
 * the lockout's wait, and renewals without a valid challenge and proof (a
 * challenge is free for anyone to ask for). Wrong cancellation codes and
 * answers are not among them: each is written (the certificate's own trail
 * shows them), and the lockout bounds them per (certificate, role, source).
 */
const UNPROVEN: ReadonlySet<string> = new Set([
  "bad-request",
  "bad-serial",
  "not-found",
  "reason-not-allowed",
  "credential-required",
  "bad-credential",
  "too-many-attempts",
  "renewal-unauthorised",
  "bad-challenge",
  "bad-proof",
]);

export type AuditRecord = Omit<AuditEntry, "at"> & { at?: number };

interface Window {
  role: string;
  action: string;
  outcome: string;
  written: number;
  suppressed: number;
}

export interface AuditLogOptions {
  /** Rows per (source, action, outcome) per minute; 10 by default. */
  perMinute?: number;
  /** Distinct (source, action, outcome) keys tracked per minute; beyond, sources share one key. */
  maxKeys?: number;
}

const MINUTE = 60_000;

export class AuditLog {
  private minute = -Infinity;
  private counts = new Map<string, Window>();
  private readonly perMinute: number;
  private readonly maxKeys: number;

  constructor(
    private readonly store: CaStore,
    private readonly clock: Clock,
    o: AuditLogOptions = {},
  ) {
    this.perMinute = o.perMinute ?? 10;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** One row, checked (inside a transaction it is part of that transaction). */
  write(e: AuditRecord): void {
    this.store.audit(clean(e, this.clock.nowMs()));
  }

  /**
   * A refusal: written like `write` unless the caller proved nothing
   * (UNPROVEN outcomes), in which case at most `perMinute` per (source,
   * action, outcome) and minute are written and the rest are counted.
   */
  refusal(e: AuditRecord, caller: Caller | undefined): void {
    const row = clean(e, this.clock.nowMs());
    if (!UNPROVEN.has(row.outcome)) return this.store.audit(row);
    this.roll(row.at);
    let key = `${sourceOf(caller)}\n${row.action}\n${row.outcome}`;
    if (!this.counts.has(key) && this.counts.size >= this.maxKeys) key = `*\n${row.action}\n${row.outcome}`;
    let w = this.counts.get(key);
    if (!w) this.counts.set(key, (w = { role: row.role, action: row.action, outcome: row.outcome, written: 0, suppressed: 0 }));
    if (w.written < this.perMinute) {
      w.written++;
      this.store.audit(row);
    } else w.suppressed++;
  }

  /** Writes the summaries of minutes that are over (before a read of the trail). */
  flushPast(): void {
    this.roll(this.clock.nowMs());
  }

  /** Writes every pending summary, this minute's too (at close). */
  flushAll(): void {
    this.writeSummaries(this.clock.nowMs());
    this.counts = new Map();
  }

  private roll(at: number): void {
    const m = Math.floor(at / MINUTE);
    if (m <= this.minute) return;
    // The summary is dated at the end of the minute it covers.
    if (this.counts.size > 0) this.writeSummaries(Math.min(at, (this.minute + 1) * MINUTE - 1));
    this.counts = new Map();
    this.minute = m;
  }

  private writeSummaries(at: number): void {
    const rows = [...this.counts.values()].filter((w) => w.suppressed > 0);
    if (rows.length === 0) return;
    this.store.transaction(() => {
      for (const w of rows) this.store.audit({ at, serial: null, role: w.role, action: w.action, outcome: "suppressed", detail: String(w.suppressed) });
    });
    for (const w of rows) w.suppressed = 0;
  }
}

/** The role as stored: a known one, or "invalid" (never the caller's string). */
export function auditRole(role: unknown): string {
  return typeof role === "string" && AUDIT_ROLES.has(role) ? role : "invalid";
}

function clean(e: AuditRecord, now: number): AuditEntry {
  const detail = e.detail;
  const detailOk = typeof detail === "string" && (DETAILS.has(detail) || isRevocationReason(detail) || /^\d{1,12}$/.test(detail) || RENEWAL_DETAIL.test(detail));
  return {
    at: typeof e.at === "number" && Number.isFinite(e.at) ? e.at : now,
    serial: typeof e.serial === "string" && SERIAL.test(e.serial) ? e.serial : null,
    role: auditRole(e.role),
    action: AUDIT_ACTIONS.has(e.action) ? e.action : "other",
    outcome: AUDIT_OUTCOMES.has(e.outcome) ? e.outcome : "other",
    ...(detailOk ? { detail } : {}),
  };
}
