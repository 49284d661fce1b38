import { createHash } from "node:crypto";
import type { Clock, EventBus, Random } from "../../core/index.js";
import { CaError, renewalStatement, type CaAdapter, type Holder, type IssuedCertificate, type Profile, type RenewRequest } from "../ca/index.js";
import type { Reader } from "../reader/index.js";
import { DEFAULT_MANAGEMENT_KEY, type KeyAlgorithm } from "./algorithms.js";
import { pemToDer } from "../../pki/index.js";
import { PROFILE_SLOTS, requestFromCard, subjectOf, type ManagementAlg } from "./issuance.js";
import { PivError, type PivClient } from "./piv-client.js";
import { TerminalRefusal } from "./refusal.js";
import { closeSession, openSession, readCertificate, verifyPin, type CardCertificate } from "./session.js";

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
 * The CA wants proof that the card is here: before any new key is made, the
 * card signs each CA's renewal challenge with the old key of that slot
 * (generating the new key replaces it). A card that was reported lost and
 * then found has revoked certificates: the kiosk issues new ones for the same
 * holder instead.
 */
export class RenewalKiosk {
  private readonly ca: CaAdapter;
  private readonly clock: Clock;
  private readonly raToken?: string;
  /** The terminal's challenges to the card (management key); a seeded run passes its stream. */
  private readonly random?: Random;
  /**
   * `raToken`: the kiosk issues afresh for a found card, as an issuing station
   * (renewal itself is authorised by the card's proof); by default the one the
   * CA connection holds (`ca.credentials()`).
   */
  constructor(opts: { ca: CaAdapter; clock: Clock; bus?: EventBus; raToken?: string; random?: Random }) {
    this.ca = opts.ca;
    this.random = opts.random;
    this.clock = opts.clock;
    this.raToken = opts.raToken ?? opts.ca.credentials?.().raToken;
  }

  async renew(reader: Reader, opts: RenewOptions): Promise<RenewResult> {
    const client = await openSession(reader, this.random);
    try {
      const { expires: cardExpiry } = await client.readChuid();
      if (cardExpiry.getTime() <= this.clock.nowMs()) {
        throw new TerminalRefusal("card-expired", `the card expired on ${cardExpiry.toISOString().slice(0, 10)}`);
      }
      await verifyPin(client, opts.pin);
      const previous: Partial<Record<Profile, string>> = {};
      const olds: Partial<Record<Profile, CardCertificate>> = {};
      for (const { profile, slot } of PROFILE_SLOTS) {
        const cert = await readCertificate(client, slot);
        if (cert) {
          previous[profile] = cert.serial;
          olds[profile] = cert;
        }
      }
      if (!previous.authentication && !previous.signature) {
        throw new TerminalRefusal("not-personalised", "the card holds no certificate to renew");
      }
      // Every proof first, while every old key is still on the card: a refusal here leaves the card as it was.
      const proofs: Partial<Record<Profile, Pick<RenewRequest, "challenge" | "proof">>> = {};
      for (const { profile, slot } of PROFILE_SLOTS) {
        const old = olds[profile];
        if (old && (await this.renewable(old.serial))) proofs[profile] = await this.prove(client, slot, old, opts.pin);
      }
      const alg = opts.alg ?? "p256";
      await client.authenticate(opts.managementKey ?? DEFAULT_MANAGEMENT_KEY, opts.managementAlg ?? "3des");
      const issued: Partial<Record<Profile, IssuedCertificate>> = {};
      let reissued = false;
      for (const { profile, slot } of PROFILE_SLOTS) {
        const csrPem = await requestFromCard(client, slot, alg, opts.pin, subjectOf(opts.holder));
        const old = previous[profile];
        const proof = proofs[profile];
        let cert: IssuedCertificate;
        const renewed = old && proof ? await this.renewOrRefused(old, { csrPem, cardExpiry, ...proof }) : undefined;
        if (renewed) cert = renewed;
        else {
          reissued = true;
          cert = await this.ca.issue({ csrPem, profile, holder: opts.holder, cardExpiry, raToken: this.raToken });
        }
        await client.writeCertificate(slot, pemToDer(cert.certificatePem));
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

  /**
   * The old key's signature over the CA's single-use challenge for `old`
   * (nothing for a CA without renewal authorisation). SHA-256 whatever the
   * key, as the CA verifies it.
   */
  private async prove(client: PivClient, slot: number, old: CardCertificate, pin: string): Promise<Pick<RenewRequest, "challenge" | "proof">> {
    if (!this.ca.capabilities().renewalAuthorisation || !this.ca.renewalChallenge) return {};
    const ch = await this.ca.renewalChallenge(old.serial);
    const digest = new Uint8Array(createHash("sha256").update(renewalStatement(ch.serial, ch.challenge)).digest());
    await verifyPin(client, pin); // slot 9C wants the PIN right before each signature
    try {
      return { challenge: ch.challenge, proof: await client.signDigest(slot as 0x9a | 0x9c, old.alg, digest) };
    } catch (err) {
      if (err instanceof PivError) throw new TerminalRefusal("card-error", `card refused to sign the renewal challenge (SW ${err.sw.toString(16)})`);
      throw err;
    }
  }

  /**
   * Every certificate the CA knows is renewed, a revoked one too (a lost card
   * that was found is renewed the same way, and the CA links the new
   * certificates to the card). Only one the CA does not know is issued afresh.
   */
  private async renewable(serial: string): Promise<boolean> {
    return (await this.ca.status(serial)).status !== "unknown";
  }

  /**
   * A CA that will not renew a revoked certificate (OpenSSL's adapter answers
   * 409) gets the card's new request as a fresh issuance instead: undefined here.
   */
  private async renewOrRefused(old: string, req: RenewRequest): Promise<IssuedCertificate | undefined> {
    try {
      return await this.ca.renew(old, req);
    } catch (err) {
      if (err instanceof CaError && err.status === 409 && (await this.ca.status(old)).status === "revoked") return undefined;
      throw err;
    }
  }
}
