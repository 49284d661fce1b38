import { REASON_CODES, type Clock, type EventBus, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CaError, sourceOf, type BulkRevocationResult, type Caller, type RevocationResult, type RevokeRequest } from "./api.js";
import { auditRole, type AuditLog, type AuditRecord } from "./audit-log.js";
import type { Authority } from "./authority.js";
import "./events.js";
import { Status, type CaStore, type StatusCode } from "./store.js";
import { checkCredentialShape, checkReason, checkRole, checkSerial } from "./validation.js";

/** What revocation asks of the authority: tokens, reasons per role, codes and answers, the lockout. */
export type RevocationAuthority = Pick<Authority, "requireToken" | "checkReasonForRole" | "credentialsMatch" | "credentialsMatchNow" | "unknownSerialWork" | "lockout" | "budget">;

export interface RevocationOptions {
  store: CaStore;
  clock: Clock;
  authority: RevocationAuthority;
  audit: AuditLog;
  events?: EventBus;
}

const LOCAL: Caller = { source: "local" };

/**
 * Revocation (Boulder's RA, the acting half): revoke, hold, release, unlock
 * and bulk revocation. The authority says whether the credentials allow it;
 * this service writes the change and its audit row in one transaction,
 * acknowledges only after the commit; the store announces the change
 * (StatusChanges), which the OCSP cache and the CRL publisher follow.
 */
export class Revocation {
  /** One credential check at a time per (certificate, role, source): concurrent guesses cannot overrun the count. */
  private readonly perTriple = new Map<string, Promise<void>>();

  constructor(private readonly o: RevocationOptions) {}

  async revoke(req: RevokeRequest, caller: Caller = LOCAL): Promise<RevocationResult> {
    const { audit } = this.o;
    const role = auditRole(req?.role);
    const refuse = (e: Omit<AuditRecord, "action" | "role">, err: unknown): never => {
      audit.refusal({ ...e, role, action: "revoke" }, caller);
      throw err;
    };
    // The operator proves who they are before anything of the request is looked at (answers come on top).
    if (req?.role === "operator") {
      try {
        this.o.authority.requireToken(req.operatorToken, "operator", "revocation by the operator");
      } catch (err) {
        refuse({ serial: null, outcome: (err as CaError).reason }, err);
      }
    }
    let serial: string;
    try {
      serial = checkSerial(req?.serial);
    } catch (err) {
      // The unusable serial itself is not stored.
      return refuse({ serial: null, outcome: "bad-request", detail: "bad-serial" }, err);
    }
    let reason: RevocationReason;
    let checkedRole: RevokerRole;
    try {
      reason = checkReason(req.reason);
      checkedRole = checkRole(req.role);
      checkCredentialShape(req);
    } catch (err) {
      return refuse({ serial, outcome: "bad-request", detail: err instanceof CaError ? err.reason : undefined }, err);
    }
    try {
      this.o.authority.checkReasonForRole(checkedRole, reason);
    } catch (err) {
      return refuse({ serial, outcome: "reason-not-allowed", detail: reason }, err);
    }
    const source = sourceOf(caller);
    return this.exclusive(`${serial}\n${checkedRole}\n${source}`, () => this.revokeChecked(serial, checkedRole, reason, req, source, caller));
  }

  private async revokeChecked(serial: string, role: RevokerRole, reason: RevocationReason, req: RevokeRequest, source: string, caller: Caller): Promise<RevocationResult> {
    const { store, events, audit, authority } = this.o;
    const at = this.o.clock.nowMs();
    const deny = (status: number, why: string, message: string): never => {
      audit.write({ at, serial, role, action: "revoke", outcome: why });
      events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: why, reason }, ["serial"]);
      throw new CaError(status, why, message);
    };
    try {
      // While this source waits, its attempts are refused unchecked: no KDF work, nothing counted.
      authority.lockout.checkWait(serial, role, source);
    } catch (err) {
      audit.refusal({ at, serial, role, action: "revoke", outcome: "too-many-attempts" }, caller);
      throw err;
    }
    let untouched = false;
    try {
      // Key derivation is what an anonymous caller can make the CA spend: failures are bounded per source, over all
      // certificates and serials that do not exist (the lockout above is per certificate). An empty budget refuses
      // before any check.
      untouched = authority.budget.check(source);
    } catch (err) {
      audit.refusal({ at, serial, role, action: "revoke", outcome: "too-many-attempts" }, caller);
      throw err;
    }
    const cert = store.revocationTarget(serial);
    if (!cert) {
      // As long as a wrong code on a real serial: timing does not tell which serials exist.
      authority.unknownSerialWork(req);
      authority.budget.spend(source);
      audit.refusal({ at, serial, role, action: "revoke", outcome: "not-found" }, caller);
      throw new CaError(404, "not-found", `no certificate with serial ${serial}`);
    }
    // Keyed-hash codes are checked at once (between the budget's check and its spend nothing else runs); a scrypt
    // hash (an answer, or a code from an earlier version) reserves its budget first, given back when right.
    let right = authority.credentialsMatchNow(cert, req);
    if (right === undefined) {
      authority.budget.take(source);
      right = await authority.credentialsMatch(cert, req, untouched);
      if (right) authority.budget.refund(source);
    } else if (!right) authority.budget.spend(source);
    if (!right) {
      // Counted in a group commit with its audit row (a flood of wrong codes shares fsyncs too).
      await store.write(() => {
        const waits = authority.lockout.wrong(serial, role, source);
        audit.write({ at, serial, role, action: "revoke", outcome: waits ? "denied-and-backoff" : "denied" });
      });
      events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "denied", reason }, ["serial"]);
      throw new CaError(403, "forbidden", "the credentials do not allow revoking this certificate");
    }
    const refusedRight = async (status: number, why: string, message: string): Promise<never> => {
      // A right credential clears its triple's count: a write only when there is one.
      if (store.failure(serial, role, source)) await store.write(() => authority.lockout.right(serial, role, source));
      return deny(status, why, message);
    };
    if (cert.status === Status.revoked) await refusedRight(409, "already-revoked", "the certificate is already revoked");
    if (cert.status === Status.onHold && reason === "certificateHold") await refusedRight(409, "already-on-hold", "the certificate is already on hold");

    const status: StatusCode = reason === "certificateHold" ? Status.onHold : Status.revoked;
    // Group commit (store.write): with the other requests of this moment, one fsync; each in its own savepoint.
    const ok = await store.write(() => {
      authority.lockout.right(serial, role, source);
      const done = store.setRevoked(serial, status, REASON_CODES[reason], at);
      audit.write({ at, serial, role, action: "revoke", outcome: done ? "ok" : "already-revoked", detail: reason });
      return done;
    });
    if (!ok) throw new CaError(409, "already-revoked", "the certificate is already revoked");
    // Committed (fsynced): only now is the revocation acknowledged.
    events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "ok", reason }, ["serial"]);
    return { serial, status: status === Status.onHold ? "on-hold" : "revoked", reason, revokedAt: new Date(at) };
  }

  /** Releases from hold (the operator's token); 409 when not on hold. */
  async release(serial: string, operatorToken: string | undefined, caller: Caller = LOCAL): Promise<void> {
    const { store, audit } = this.o;
    const s = this.operatorAction("release", serial, operatorToken, caller);
    const at = this.o.clock.nowMs();
    const ok = await store.write(() => {
      const done = store.release(s, at);
      audit.write({ at, serial: s, role: "operator", action: "release", outcome: done ? "ok" : "not-on-hold" });
      return done;
    });
    if (!ok) throw new CaError(409, "not-on-hold", "the certificate is not on hold");
    this.o.events?.emit("ca.revocation", { serial: s, role: "operator", action: "release", outcome: "ok" }, ["serial"]);
  }

  /** Operator action: clears every (role, source) count of the certificate; audited with how many it cleared. */
  async unlock(serial: string, operatorToken: string | undefined, caller: Caller = LOCAL): Promise<void> {
    const { store, audit } = this.o;
    const s = this.operatorAction("unlock", serial, operatorToken, caller);
    await store.write(() => {
      const cleared = this.o.authority.lockout.unlock(s);
      audit.write({ serial: s, role: "operator", action: "unlock", outcome: "ok", detail: String(cleared) });
    });
  }

  /** Bulk revocation by an operator: every serial checked first, then one transaction. */
  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string | undefined, caller: Caller = LOCAL): Promise<BulkRevocationResult> {
    const { store, audit } = this.o;
    const at = this.o.clock.nowMs();
    // A refused request revokes nothing: one row for it (the serials may not even be serials).
    const refused = (outcome: string, detail: string | undefined, err: unknown): never => {
      audit.refusal({ at, serial: null, role: "operator", action: "bulk-revoke", outcome, detail }, caller);
      throw err;
    };
    try {
      this.o.authority.requireToken(operatorToken, "operator", "bulk revocation");
    } catch (err) {
      refused((err as CaError).reason, undefined, err);
    }
    let r: RevocationReason;
    let clean: string[];
    try {
      r = checkReason(reason);
    } catch (err) {
      return refused("bad-request", err instanceof CaError ? err.reason : undefined, err);
    }
    try {
      this.o.authority.checkReasonForRole("operator", r);
    } catch (err) {
      // Audited as the single revocation audits it.
      return refused("reason-not-allowed", r, err);
    }
    try {
      if (!Array.isArray(serials) || serials.length === 0) throw new CaError(400, "bad-serials", "serials must be a non-empty array of hex serial numbers");
      clean = new Array<string>(serials.length);
      for (let i = 0; i < serials.length; i++) clean[i] = checkSerial(serials[i]); // validate all before writing anything
    } catch (err) {
      return refused("bad-request", err instanceof CaError ? err.reason : undefined, err);
    }
    const status = r === "certificateHold" ? Status.onHold : Status.revoked;
    // One audit row per serial, written in the revocation's own transaction; a group commit, so that the event loop
    // answers OCSP and other requests while the batch's fsync runs.
    const out = await store.write(() => store.bulkRevoke(clean, status, REASON_CODES[r], at, { at, role: "operator", action: "bulk-revoke", detail: r }));
    this.o.events?.emit("ca.revocation", { serial: null, role: "operator", action: "bulk-revoke", outcome: "ok", reason: r, count: out.revoked.length });
    return { revoked: out.revoked.length, revokedAt: new Date(at), unknown: out.unknown, alreadyRevoked: out.alreadyRevoked };
  }

  /** The operator's token first, then the serial and the certificate; each refusal audited. Returns the serial as stored. */
  private operatorAction(action: "release" | "unlock", serial: unknown, operatorToken: string | undefined, caller: Caller): string {
    const { audit, store } = this.o;
    const refuse = (s: string | null, outcome: string, err: unknown, detail?: string): never => {
      audit.refusal({ serial: s, role: "operator", action, outcome, detail }, caller);
      throw err;
    };
    try {
      this.o.authority.requireToken(operatorToken, "operator", action === "release" ? "release from hold" : "unlock");
    } catch (err) {
      refuse(null, (err as CaError).reason, err);
    }
    let s: string;
    try {
      s = checkSerial(serial);
    } catch (err) {
      return refuse(null, "bad-request", err, "bad-serial");
    }
    if (!store.hasSerial(s)) refuse(s, "not-found", new CaError(404, "not-found", `no certificate with serial ${s}`));
    return s;
  }

  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.perTriple.get(key) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const mine = prev.then(() => gate);
    this.perTriple.set(key, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.perTriple.get(key) === mine) this.perTriple.delete(key);
    }
  }
}
