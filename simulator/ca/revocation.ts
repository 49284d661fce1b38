import { REASON_CODES, type Clock, type EventBus, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CaError, type BulkRevocationResult, type RevocationResult, type RevokeRequest } from "./api.js";
import type { Authority } from "./authority.js";
import { requireCertificate } from "./certificates.js";
import "./events.js";
import { Status, type CaStore, type StatusCode } from "./store.js";
import { checkCredentialShape, checkReason, checkRole, checkSerial, roleLabel } from "./validation.js";

/** What revocation asks of the authority: the operator token, the reasons per role, the credentials and the lockout count. */
export type RevocationAuthority = Pick<Authority, "isOperator" | "checkReasonForRole" | "credentialsMatch" | "recordWrongCredentials">;

export interface RevocationOptions {
  store: CaStore;
  clock: Clock;
  authority: RevocationAuthority;
  events?: EventBus;
}

/**
 * Revocation (Boulder's RA, the acting half): revoke, hold, release, unlock
 * and bulk revocation. The authority says whether the credentials allow it;
 * this service writes the change and its audit row in one transaction,
 * acknowledges only after the commit; the store announces the change
 * (StatusChanges), which the OCSP cache and the CRL publisher follow.
 */
export class Revocation {
  private readonly perSerial = new Map<string, Promise<void>>();

  constructor(private readonly o: RevocationOptions) {}

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    const { store } = this.o;
    const role = req?.role;
    const at = this.o.clock.nowMs();
    let serial: string;
    try {
      serial = checkSerial(req?.serial);
    } catch (err) {
      // Audited like any malformed attempt; the unusable serial itself is not stored.
      store.audit({ at, serial: null, role: roleLabel(role), action: "revoke", outcome: "bad-request", detail: "bad-serial" });
      throw err;
    }
    let reason: RevocationReason;
    let checkedRole: RevokerRole;
    try {
      reason = checkReason(req.reason);
      checkedRole = checkRole(role);
      checkCredentialShape(req);
    } catch (err) {
      // Malformed attempts are audited too (never with the code itself).
      store.audit({ at, serial, role: roleLabel(role), action: "revoke", outcome: "bad-request" });
      throw err;
    }
    try {
      this.o.authority.checkReasonForRole(checkedRole, reason);
    } catch (err) {
      store.audit({ at, serial, role: checkedRole, action: "revoke", outcome: "reason-not-allowed", detail: reason });
      throw err;
    }
    // One credential check at a time per certificate: concurrent guesses cannot overrun the lockout.
    return this.exclusive(serial, () => this.revokeChecked(serial, checkedRole, reason, req, at));
  }

  private async revokeChecked(serial: string, role: RevokerRole, reason: RevocationReason, req: RevokeRequest, at: number): Promise<RevocationResult> {
    const { store, events } = this.o;
    const cert = requireCertificate(store, this.o.clock, serial, { role, action: "revoke" });
    const deny = (status: number, why: string, message: string): never => {
      store.audit({ at, serial, role, action: "revoke", outcome: why });
      events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: why, reason }, ["serial"]);
      throw new CaError(status, why, message);
    };
    if (cert.locked) deny(423, "locked", "revocation of this certificate is locked after too many wrong attempts; an operator must unlock it");

    if (!(await this.o.authority.credentialsMatch(cert, req))) {
      // Re-read: another request may have locked it while we hashed.
      let lockedNow = false;
      store.transaction(() => {
        lockedNow = this.o.authority.recordWrongCredentials(serial);
        store.audit({ at, serial, role, action: "revoke", outcome: lockedNow ? "denied-and-locked" : "denied" });
      });
      events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "denied", reason }, ["serial"]);
      throw new CaError(403, "forbidden", "the credentials do not allow revoking this certificate");
    }
    if (cert.status === Status.revoked) deny(409, "already-revoked", "the certificate is already revoked");
    if (cert.status === Status.onHold && reason === "certificateHold") deny(409, "already-on-hold", "the certificate is already on hold");

    const status: StatusCode = reason === "certificateHold" ? Status.onHold : Status.revoked;
    let ok = false;
    store.transaction(() => {
      ok = store.setRevoked(serial, status, REASON_CODES[reason], at);
      if (ok && cert.failed_tries > 0) store.unlock(serial); // a success resets the wrong-try count
      store.audit({ at, serial, role, action: "revoke", outcome: ok ? "ok" : "already-revoked", detail: reason });
    });
    if (!ok) throw new CaError(409, "already-revoked", "the certificate is already revoked");
    // Committed (fsynced): only now is the revocation acknowledged.
    events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "ok", reason }, ["serial"]);
    return { serial, status: status === Status.onHold ? "on-hold" : "revoked", reason, revokedAt: new Date(at) };
  }

  /** Releases from hold; 409 when not on hold. The caller is trusted as `actor` (in process: the operator). */
  async release(serial: string, actor: string): Promise<void> {
    const { store } = this.o;
    serial = checkSerial(serial);
    requireCertificate(store, this.o.clock, serial, { role: actor, action: "release" });
    const at = this.o.clock.nowMs();
    let ok = false;
    store.transaction(() => {
      ok = store.release(serial, at);
      store.audit({ at, serial, role: actor, action: "release", outcome: ok ? "ok" : "not-on-hold" });
    });
    if (!ok) throw new CaError(409, "not-on-hold", "the certificate is not on hold");
    this.o.events?.emit("ca.revocation", { serial, role: actor, action: "release", outcome: "ok" }, ["serial"]);
  }

  /** Operator action: clears a certificate's revocation lockout. */
  async unlock(serial: string, operatorToken: string): Promise<void> {
    const { store } = this.o;
    serial = checkSerial(serial);
    const at = this.o.clock.nowMs();
    if (!this.o.authority.isOperator(operatorToken)) {
      store.audit({ at, serial, role: "operator", action: "unlock", outcome: "denied" });
      throw new CaError(403, "forbidden", "a valid operator token is required");
    }
    requireCertificate(store, this.o.clock, serial, { role: "operator", action: "unlock" });
    store.transaction(() => {
      store.unlock(serial);
      store.audit({ at, serial, role: "operator", action: "unlock", outcome: "ok" });
    });
  }

  /** Bulk revocation by an operator: every serial checked first, then one transaction. */
  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult> {
    const { store } = this.o;
    const at = this.o.clock.nowMs();
    if (!this.o.authority.isOperator(operatorToken)) {
      store.audit({ at, serial: null, role: "operator", action: "bulk-revoke", outcome: "denied" });
      throw new CaError(403, "forbidden", "a valid operator token is required");
    }
    // A refused request revokes nothing: one row for it (the serials may not even be serials).
    const refused = (outcome: string, detail: string | undefined) => store.audit({ at, serial: null, role: "operator", action: "bulk-revoke", outcome, detail });
    let r: RevocationReason;
    let clean: string[];
    try {
      r = checkReason(reason);
    } catch (err) {
      refused("bad-request", err instanceof CaError ? err.reason : undefined);
      throw err;
    }
    try {
      this.o.authority.checkReasonForRole("operator", r);
    } catch (err) {
      // Audited as the single revocation audits it.
      refused("reason-not-allowed", r);
      throw err;
    }
    try {
      if (!Array.isArray(serials) || serials.length === 0) throw new CaError(400, "bad-serials", "serials must be a non-empty array of hex serial numbers");
      clean = new Array<string>(serials.length);
      for (let i = 0; i < serials.length; i++) clean[i] = checkSerial(serials[i]); // validate all before writing anything
    } catch (err) {
      refused("bad-request", err instanceof CaError ? err.reason : undefined);
      throw err;
    }
    const status = r === "certificateHold" ? Status.onHold : Status.revoked;
    // One audit row per serial, written in the revocation's own transaction.
    const out = store.bulkRevoke(clean, status, REASON_CODES[r], at, { at, role: "operator", action: "bulk-revoke", detail: r });
    this.o.events?.emit("ca.revocation", { serial: null, role: "operator", action: "bulk-revoke", outcome: "ok", reason: r, count: out.revoked.length });
    return { revoked: out.revoked.length, revokedAt: new Date(at), unknown: out.unknown, alreadyRevoked: out.alreadyRevoked };
  }

  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.perSerial.get(key) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const mine = prev.then(() => gate);
    this.perSerial.set(key, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.perSerial.get(key) === mine) this.perSerial.delete(key);
    }
  }
}
