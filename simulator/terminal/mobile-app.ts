import type { Clock } from "../../core/index.js";
import type { Profile } from "../ca/index.js";
import type { Reader } from "../reader/index.js";
import { PROFILE_SLOTS } from "./issuance.js";
import { TerminalRefusal } from "./refusal.js";
import { closeSession, openSession, readCertificate } from "./session.js";

export interface StoredCertificate {
  serial: string;
  notAfter: Date;
  subject: string;
}

/** What the app shows the holder. */
export interface MobileView {
  certificates: Partial<Record<Profile, StoredCertificate>>;
  syncedAt: Date;
  /** Whole days until the first certificate expires (negative once expired). */
  daysLeft: number;
  /** The holder is being told to renew: expiry is within the policy's window. */
  alert: boolean;
}

const DAY_MS = 86_400_000;

/**
 * The holder's mobile app: reads the certificates from the card (over NFC, no
 * PIN needed for public objects), keeps a copy, and alerts before expiry. It
 * knows only what it last read: after a renewal it shows the old certificates
 * until it is synced again.
 */
export class MobileApp {
  private copy?: { certificates: Partial<Record<Profile, StoredCertificate>>; syncedAt: Date };

  constructor(
    private readonly clock: Clock,
    private readonly alertBeforeMs: number,
  ) {}

  async sync(reader: Reader): Promise<MobileView> {
    const client = await openSession(reader);
    try {
      const certificates: Partial<Record<Profile, StoredCertificate>> = {};
      for (const { profile, slot } of PROFILE_SLOTS) {
        const cert = await readCertificate(client, slot);
        if (cert) certificates[profile] = { serial: cert.serial, notAfter: cert.notAfter, subject: cert.certificate.subject.display };
      }
      if (Object.keys(certificates).length === 0) throw new TerminalRefusal("not-personalised", "the card holds no certificate");
      this.copy = { certificates, syncedAt: this.clock.now() };
    } finally {
      await closeSession(reader);
    }
    return this.view()!;
  }

  /** The stored copy as the app displays it now, or undefined before the first sync. */
  view(): MobileView | undefined {
    if (!this.copy) return undefined;
    const firstExpiry = Math.min(...Object.values(this.copy.certificates).map((c) => c!.notAfter.getTime()));
    const remaining = firstExpiry - this.clock.nowMs();
    return {
      certificates: this.copy.certificates,
      syncedAt: this.copy.syncedAt,
      daysLeft: Math.floor(remaining / DAY_MS),
      alert: remaining <= this.alertBeforeMs,
    };
  }
}
