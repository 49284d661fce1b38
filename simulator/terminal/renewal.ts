import type { Clock, EventBus } from "../../core/index.js";
import { CaError, type CaAdapter, type Holder, type IssuedCertificate, type Profile } from "../ca/api.js";
import type { Reader } from "../reader/reader.js";
import { DEFAULT_MANAGEMENT_KEY, type KeyAlgorithm } from "./algorithms.js";
import { fromPem } from "./csr.js";
import { PROFILE_SLOTS, requestFromCard, subjectOf, type ManagementAlg } from "./issuance.js";
import { TerminalRefusal } from "./refusal.js";
import { closeSession, openSession, readCertificate, verifyPin } from "./session.js";

export interface RenewOptions {
  pin: string;
  /** The holder standing at the kiosk (identity checked by the kiosk's operator). */
  holder: Holder;
  managementKey?: Uint8Array;
  managementAlg?: ManagementAlg;
  alg?: KeyAlgorithm;
}

export interface RenewResult {
  authentication: IssuedCertificate;
  signature: IssuedCertificate;
  /** Serials the new certificates supersede. */
  previous: Partial<Record<Profile, string>>;
  /** True when the old certificate had been revoked (a found card): issued afresh instead of renewed. */
  reissued: boolean;
  cardExpiry: Date;
}

/**
 * The renewal kiosk: card plus PIN. It refuses an expired card (from the
 * CHUID, before any PIN try is spent) and a wrong PIN; otherwise new keys, new
 * requests signed by the card, the CA renews, the certificates are written back.
 * A card that was reported lost and then found has revoked certificates: the
 * CA will not renew those, so the kiosk issues new ones for the same holder.
 */
export class RenewalKiosk {
  private readonly ca: CaAdapter;
  private readonly clock: Clock;
  constructor(opts: { ca: CaAdapter; clock: Clock; bus?: EventBus }) {
    this.ca = opts.ca;
    this.clock = opts.clock;
  }

  async renew(reader: Reader, opts: RenewOptions): Promise<RenewResult> {
    const client = await openSession(reader);
    try {
      const { expires: cardExpiry } = await client.readChuid();
      if (cardExpiry.getTime() <= this.clock.nowMs()) {
        throw new TerminalRefusal("card-expired", `the card expired on ${cardExpiry.toISOString().slice(0, 10)}`);
      }
      await verifyPin(client, opts.pin);
      const previous: Partial<Record<Profile, string>> = {};
      for (const { profile, slot } of PROFILE_SLOTS) {
        const cert = await readCertificate(client, slot);
        if (cert) previous[profile] = cert.serial;
      }
      if (!previous.authentication && !previous.signature) {
        throw new TerminalRefusal("not-personalised", "the card holds no certificate to renew");
      }
      const alg = opts.alg ?? "p256";
      await client.authenticate(opts.managementKey ?? DEFAULT_MANAGEMENT_KEY, opts.managementAlg ?? "3des");
      const issued: Partial<Record<Profile, IssuedCertificate>> = {};
      let reissued = false;
      for (const { profile, slot } of PROFILE_SLOTS) {
        const csrPem = await requestFromCard(client, slot, alg, opts.pin, subjectOf(opts.holder));
        const old = previous[profile];
        let cert: IssuedCertificate;
        if (old && (await this.renewable(old))) {
          cert = await this.ca.renew(old, { csrPem, cardExpiry });
        } else {
          reissued = true;
          cert = await this.ca.issue({ csrPem, profile, holder: opts.holder, cardExpiry });
        }
        await client.writeCertificate(slot, fromPem(cert.certificatePem));
        issued[profile] = cert;
      }
      return { authentication: issued.authentication!, signature: issued.signature!, previous, reissued, cardExpiry };
    } catch (err) {
      if (err instanceof CaError) throw new TerminalRefusal("ca-refused", `the CA refused: ${err.reason}: ${err.message}`, { status: err.status, caReason: err.reason });
      throw err;
    } finally {
      await closeSession(reader);
    }
  }

  /** A revoked (lost, then found) certificate cannot be renewed; anything else the CA knows can. */
  private async renewable(serial: string): Promise<boolean> {
    const status = await this.ca.status(serial);
    return status.status === "good" || status.status === "on-hold";
  }
}
