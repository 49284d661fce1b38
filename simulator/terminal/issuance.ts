import type { Clock, EventBus, Random } from "../../core/index.js";
import type { CaAdapter, CancellationCodes, Holder, IssuedCertificate, Profile } from "../ca/index.js";
import type { Reader } from "../reader/index.js";
import { DEFAULT_MANAGEMENT_KEY, SLOT, type KeyAlgorithm } from "./algorithms.js";
import { pemToDer } from "../../pki/index.js";
import { buildCsr, type CsrSubject } from "./csr.js";
import { PivClient, PivError } from "./piv-client.js";
import { TerminalRefusal } from "./refusal.js";
import { closeSession, openSession, pinRefusal, verifyPin } from "./session.js";

export type ManagementAlg = "3des" | "aes128" | "aes192" | "aes256";

export interface PersonaliseOptions {
  holder: Holder;
  /** The PIN the holder chooses; replaces the transport PIN. */
  pin: string;
  transportPin?: string;
  managementKey?: Uint8Array;
  managementAlg?: ManagementAlg;
  alg?: KeyAlgorithm;
  /** Ask the CA to end the certificates no later than the card (default true: a certificate never outlives its card). */
  capAtCardExpiry?: boolean;
}

export interface PersonaliseResult {
  authentication: IssuedCertificate;
  signature: IssuedCertificate;
  cancellationCodes?: CancellationCodes;
  cardExpiry: Date;
}

/** Which slot holds which certificate profile. */
export const PROFILE_SLOTS: readonly { profile: Profile; slot: number }[] = [
  { profile: "authentication", slot: SLOT.authentication },
  { profile: "signature", slot: SLOT.signature },
];

/**
 * The issuance station: turns a blank card into a holder's card. The holder
 * sets a PIN; keys are generated on the card (9A authentication, 9C
 * signature); each PKCS#10 request is signed by the card; the CA issues (capped
 * at the card's expiry, read from the CHUID) and the certificates go back onto
 * the card.
 */
export class IssuanceStation {
  private readonly ca: CaAdapter;
  private readonly raToken?: string;
  /** The terminal's challenges to the card (management key); a seeded run passes its stream. */
  private readonly random?: Random;
  /**
   * `raToken`: the station's own credential at the CA (a CA with
   * issuanceAuthorisation issues for nobody else); by default the one the CA
   * connection holds (`ca.credentials()`).
   */
  constructor(opts: { ca: CaAdapter; clock: Clock; bus?: EventBus; raToken?: string; random?: Random }) {
    this.ca = opts.ca;
    this.random = opts.random;
    this.raToken = opts.raToken ?? opts.ca.credentials?.().raToken;
  }

  async personalise(reader: Reader, opts: PersonaliseOptions): Promise<PersonaliseResult> {
    const alg = opts.alg ?? "p256";
    const client = await openSession(reader, this.random);
    try {
      try {
        await client.changePin(opts.transportPin ?? "123456", opts.pin);
      } catch (err) {
        throw pinRefusal(err, "PIN");
      }
      const { expires: cardExpiry } = await client.readChuid();
      await client.authenticate(opts.managementKey ?? DEFAULT_MANAGEMENT_KEY, opts.managementAlg ?? "3des");
      const issued: Partial<Record<Profile, IssuedCertificate>> = {};
      let cancellationCodes: CancellationCodes | undefined;
      for (const { profile, slot } of PROFILE_SLOTS) {
        const csrPem = await requestFromCard(client, slot, alg, opts.pin, subjectOf(opts.holder));
        const cert = await this.ca.issue({
          csrPem,
          profile,
          holder: opts.holder,
          cardExpiry: opts.capAtCardExpiry === false ? undefined : cardExpiry,
          raToken: this.raToken,
        });
        cancellationCodes ??= cert.cancellationCodes;
        await client.writeCertificate(slot, pemToDer(cert.certificatePem));
        issued[profile] = cert;
      }
      return { authentication: issued.authentication!, signature: issued.signature!, cancellationCodes, cardExpiry };
    } finally {
      await closeSession(reader);
    }
  }
}

export function subjectOf(holder: Holder): CsrSubject {
  return { commonName: holder.name, email: holder.email, organisation: holder.organisation, serialNumber: holder.id };
}

/**
 * New key pair in `slot`, and a request signed by it. The PIN is verified
 * right before the signature: slot 9C demands it for every signature.
 */
export async function requestFromCard(client: PivClient, slot: number, alg: KeyAlgorithm, pin: string, subject: CsrSubject): Promise<string> {
  const publicKey = await client.generateKey(slot as 0x9a | 0x9c, alg);
  const signer = {
    signDigest: async (s: number, a: KeyAlgorithm, digest: Uint8Array) => {
      await verifyPin(client, pin);
      try {
        return await client.signDigest(s as 0x9a | 0x9c, a, digest);
      } catch (err) {
        if (err instanceof PivError) throw new TerminalRefusal("card-error", `card refused to sign (SW ${err.sw.toString(16)})`);
        throw err;
      }
    },
  };
  return (await buildCsr(signer, slot, alg, publicKey, subject)).pem;
}
