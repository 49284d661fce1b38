import { addYears, REASON_CODES, type Clock, type EventBus, type Random, type RenewalRule } from "../../core/index.js";
import { buildCertificate, encodePem, encodeName, ext, keyIdentifier, KU, OID, type NameAttr } from "../../pki/index.js";
import { CaError, type Caller, type CancellationCodes, type IssuedCertificate, type IssueRequest, type Profile, type RenewRequest } from "./api.js";
import type { AuditLog } from "./audit-log.js";
import type { Authority } from "./authority.js";
import { requireCertificate } from "./certificates.js";
import "./events.js";
import type { CaHierarchy } from "./hierarchy.js";
import { normaliseHolder } from "./holder-names.js";
import { Status, type CaStore, type CardRow } from "./store.js";
import { checkCardExpiry, checkHolder, checkProfile, checkSerial, renewalRole, verifyCsr } from "./validation.js";

/** What issuance asks of the authority: the RA's token, a new card's codes, and whether (and then once) a renewal may happen. */
export type IssuanceAuthority = Pick<Authority, "authenticate" | "registerCard" | "authoriseRenewal" | "consumeChallenge">;

export interface IssuanceOptions {
  store: CaStore;
  clock: Clock;
  random: Random;
  hierarchy: CaHierarchy;
  authority: IssuanceAuthority;
  audit: AuditLog;
  events?: EventBus;
  /** The CA's base URL as it is now (a served CA learns it once it listens): AIA and CDP. */
  baseUrl: () => string;
  /** Whole years. */
  lifetimeYears: number;
  capAtCardExpiry: boolean;
  renewal: RenewalRule;
}

/**
 * Issuance (Boulder's CA): the profiles, the validity caps (the policy's
 * lifetime, the card's expiry), serials and signing, for first issuance and
 * for renewal. Who may renew is the authority's question; this service asks
 * it, then signs and stores the new certificate (the store announces it).
 */
export class Issuance {
  constructor(private readonly o: IssuanceOptions) {}

  async issue(req: IssueRequest, caller?: Caller): Promise<IssuedCertificate> {
    const { store, authority } = this.o;
    // The issuing station proves itself before anything of the request is looked at.
    authority.authenticate(req?.raToken, "ra", "issue", this.o.audit, caller);
    const profile = checkProfile(req?.profile);
    // NFC, no control characters, X.520 bounds (holder-names.ts): the card row keeps this form, and comparisons use it.
    const holder = normaliseHolder(checkHolder(req?.holder));
    const spki = await verifyCsr(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);

    const cardId = holder.id;
    let newCard: CardRow | undefined;
    let codes: CancellationCodes | undefined;
    if (!store.card(cardId)) ({ row: newCard, codes } = await this.o.authority.registerCard(holder));
    const card = newCard ?? store.card(cardId)!;
    const serial = this.newSerial();
    const der = this.buildLeaf(serial, profile, card, spki, notBefore, notAfter);
    let inserted = false;
    store.transaction(() => {
      if (newCard) inserted = insertCardOnce(store, newCard);
      store.insertCertificate({ serial, card_id: cardId, profile, not_before: notBefore, not_after: notAfter, der: Buffer.from(der) });
    });
    this.o.events?.emit("ca.issued", { serial, profile, holderId: cardId, notAfter: new Date(notAfter).toISOString() }, ["serial"]);
    return this.issued(serial, der, notBefore, notAfter, inserted ? codes : undefined);
  }

  /**
   * Renewal, authorised by a proof of the old key (the card, after its PIN)
   * or by the operator token. Works for a revoked certificate too: a found
   * card is renewed the same way. Every attempt is audited, refusals included
   * (never the proof or the token).
   */
  async renew(serial: string, req: RenewRequest, caller?: Caller): Promise<IssuedCertificate> {
    const at = this.o.clock.nowMs();
    const role = renewalRole(req);
    let checked: string | null = null;
    try {
      checked = checkSerial(serial);
      return await this.renewChecked(checked, req ?? { csrPem: "" }, role, at);
    } catch (err) {
      if (err instanceof CaError) this.o.audit.refusal({ at, serial: checked, role, action: "renew", outcome: err.reason }, caller);
      throw err;
    }
  }

  private async renewChecked(serial: string, req: RenewRequest, role: string, at: number): Promise<IssuedCertificate> {
    const { store, authority } = this.o;
    const old = requireCertificate(store, serial);
    const challenge = authority.authoriseRenewal(serial, old, req);
    const card = store.card(old.card_id);
    if (!card) throw new CaError(409, "no-card", `certificate ${serial} has no registered card to renew for`);
    const spki = await verifyCsr(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);
    const profile = old.profile as Profile;
    const newSerial = this.newSerial();
    const der = this.buildLeaf(newSerial, profile, card, spki, notBefore, notAfter);
    let superseded = false;
    store.transaction(() => {
      if (challenge) authority.consumeChallenge(challenge);
      store.insertCertificate({ serial: newSerial, card_id: card.card_id, profile, not_before: notBefore, not_after: notAfter, der: Buffer.from(der) });
      if (this.o.renewal === "revoke-superseded") {
        superseded = store.setRevoked(serial, Status.revoked, REASON_CODES.superseded, at);
      }
      this.o.audit.write({ at, serial, role, action: "renew", outcome: "ok", detail: JSON.stringify({ newSerial, superseded }) });
    });
    this.o.events?.emit("ca.issued", { serial: newSerial, profile, holderId: card.card_id, notAfter: new Date(notAfter).toISOString(), renewalOf: serial }, ["serial", "renewalOf"]);
    return this.issued(newSerial, der, notBefore, notAfter, undefined);
  }

  /** Issuing CA first, root last. */
  chainPem(): string[] {
    const h = this.o.hierarchy;
    return [encodePem(h.issuing.certificate, "CERTIFICATE"), encodePem(h.root.certificate, "CERTIFICATE")];
  }

  /** notBefore = now, notAfter = the smaller of the policy's lifetime and the card's expiry. */
  private validity(cardExpiry: unknown): { notBefore: number; notAfter: number } {
    const now = this.o.clock.now();
    let notAfter = addYears(now, this.o.lifetimeYears).getTime();
    const exp = checkCardExpiry(cardExpiry, now.getTime());
    if (exp !== undefined && this.o.capAtCardExpiry) notAfter = Math.min(notAfter, exp);
    // X.509 times have whole seconds: round down so the certificate never outlives its cap.
    return { notBefore: Math.floor(now.getTime() / 1000) * 1000, notAfter: Math.floor(notAfter / 1000) * 1000 };
  }

  /** Positive, 16 octets, 126 random bits (top bit clear for a positive INTEGER, next bit set to fix the length). */
  private newSerial(): string {
    for (;;) {
      const b = this.o.random.bytes(16);
      b[0] = (b[0] & 0x7f) | 0x40;
      const hex = Buffer.from(b).toString("hex");
      if (!this.o.store.hasSerial(hex)) return hex;
    }
  }

  private buildLeaf(serial: string, profile: Profile, card: CardRow, spki: Uint8Array, notBefore: number, notAfter: number): Uint8Array {
    const subject: NameAttr[] = [[OID.commonName, card.name]];
    if (card.organisation) subject.push([OID.organization, card.organisation]);
    const issuing = this.o.hierarchy.issuing;
    const base = this.o.baseUrl();
    const extensions = [
      ext.basicConstraints(false),
      profile === "authentication" ? ext.keyUsage([KU.digitalSignature]) : ext.keyUsage([KU.digitalSignature, KU.nonRepudiation]),
      ...(profile === "authentication" ? [ext.extKeyUsage([OID.kpClientAuth])] : []),
      ext.subjectKeyIdentifier(keyIdentifier(spki)),
      ext.authorityKeyIdentifier(issuing.keyId),
      ext.ocspAccess(`${base}/ocsp`),
      ext.crlDistributionPoint(`${base}/crl`),
      ext.emailAltName(card.email),
    ];
    return buildCertificate(
      { serial: Buffer.from(serial, "hex"), issuer: issuing.name, subject: encodeName(subject), notBefore, notAfter, spki, extensions },
      issuing.signer,
    );
  }

  private issued(serial: string, der: Uint8Array, notBefore: number, notAfter: number, codes?: CancellationCodes): IssuedCertificate {
    return {
      serial,
      certificatePem: encodePem(der, "CERTIFICATE"),
      chainPem: this.chainPem(),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      ...(codes ? { cancellationCodes: codes } : {}),
    };
  }
}

/** Two concurrent first issuances for one card: only the first creates it (and hands out codes). */
function insertCardOnce(store: CaStore, row: CardRow): boolean {
  if (store.card(row.card_id)) return false;
  store.insertCard(row);
  return true;
}
