import { sign as nodeSign } from "node:crypto";
import { addYears, REASON_CODES, type Clock, type EventBus, type Random, type RenewalRule } from "../../core/index.js";
import { assembleSigned, buildCertificate, encodePem, encodeName, ext, keyIdentifier, KU, OID, type CertificateSpec, type NameAttr } from "../../pki/index.js";
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
  /**
   * The verdict on a CSR's exact text (its key, checked and self-signed): the same bytes always get the same
   * verdict, so a station that sends one request again (a load test cycles a handful) is not verified again.
   * Only accepted requests are kept, at most CSR_CACHE of them, oldest out first.
   */
  private readonly verifiedCsrs = new Map<string, Uint8Array>();
  private chain?: { issuing: Uint8Array; root: Uint8Array; pem: string[] };
  /** The subject key identifier extension by the key's object (csrKey hands out one object per remembered CSR): a SHA-1 per key, not per certificate. */
  private readonly subjectKeyIds = new WeakMap<Uint8Array, Uint8Array>();
  private readonly fixedExtensions = new Map<Profile, { base: string; keyId: Uint8Array; head: Uint8Array[]; tail: Uint8Array[] }>();

  constructor(private readonly o: IssuanceOptions) {}

  /** verifyCsr, remembered for the last CSR_CACHE accepted requests. */
  private async csrKey(pem: unknown): Promise<Uint8Array> {
    const known = typeof pem === "string" ? this.verifiedCsrs.get(pem) : undefined;
    if (known) return known;
    const spki = await verifyCsr(pem);
    if (this.verifiedCsrs.size >= CSR_CACHE) this.verifiedCsrs.delete(this.verifiedCsrs.keys().next().value!);
    this.verifiedCsrs.set(pem as string, spki);
    return spki;
  }

  /** One issuance: a batch of one (its rows share a group commit's fsync with the other writes of this moment). */
  async issue(req: IssueRequest, caller?: Caller): Promise<IssuedCertificate> {
    const [r] = await this.issueMany([req], caller);
    if (r instanceof CaError) throw r;
    return r;
  }

  /**
   * Many issuances at once (`POST /api/v1/certificates/batch`): each request checked, audited and announced as
   * `issue` does it, in order, one result each: the certificate, or the CaError refusing that request alone (a bad
   * CSR or holder refuses its item, never the others). Every accepted row goes through ONE store.write: the batch
   * is one durable commit, acknowledged after its fsync. A storage fault fails the whole batch (nothing is written).
   */
  async issueMany(reqs: readonly IssueRequest[], caller?: Caller): Promise<Array<IssuedCertificate | CaError>> {
    const out = new Array<IssuedCertificate | CaError>(reqs.length);
    const items = new Array<SignedIssue | undefined>(reqs.length);
    const started: Promise<void>[] = [];
    // Anything but a refusal (a fault) fails the batch, once every item has settled: kept, never left unhandled.
    let fault: { error: unknown } | undefined;
    for (let i = 0; i < reqs.length; i++) {
      // The checks and the leaf's encoding run on this thread until each signature is handed to the pool: a slice at
      // a time, so that other requests (OCSP, revocations) are served between slices of a large batch.
      if (i > 0 && i % PREPARE_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      started.push(
        this.prepareIssue(reqs[i], caller).then(
          (item) => void (items[i] = item),
          (err: unknown) => {
            if (err instanceof CaError) out[i] = err;
            else fault ??= { error: err };
          },
        ),
      );
    }
    await Promise.all(started);
    if (fault) throw fault.error;
    let todo = items.flatMap((item, i) => (item ? [i] : []));
    for (let attempt = 1; todo.length > 0; attempt++) {
      const outcomes = await this.o.store.write(() => todo.map((i) => this.insertIssued(items[i]!)));
      const again: number[] = [];
      outcomes.forEach((created, k) => {
        const i = todo[k];
        if (created === SERIAL_TAKEN) again.push(i);
        else out[i] = this.announceIssued(items[i]!, created);
      });
      await Promise.all(again.map((i) => this.redraw(items[i]!, attempt)));
      todo = again;
    }
    return out;
  }

  /** Everything of an issuance before its rows are written: the RA's token first, the request's checks, the new card's codes, the signed leaf. */
  private async prepareIssue(req: IssueRequest, caller?: Caller): Promise<SignedIssue> {
    const { store, authority } = this.o;
    // The issuing station proves itself before anything of the request is looked at.
    authority.authenticate(req?.raToken, "ra", "issue", this.o.audit, caller);
    const profile = checkProfile(req?.profile);
    // NFC, no control characters, X.520 bounds (holder-names.ts): the card row keeps this form, and comparisons use it.
    const holder = normaliseHolder(checkHolder(req?.holder));
    const spki = await this.csrKey(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);
    let newCard: CardRow | undefined;
    let codes: CancellationCodes | undefined;
    const known = store.card(holder.id);
    if (!known) ({ row: newCard, codes } = await authority.registerCard(holder));
    const card = newCard ?? known!;
    const serial = this.newSerial();
    const der = await this.buildLeaf(serial, profile, card, spki, notBefore, notAfter);
    return { profile, card, newCard, codes, spki, notBefore, notAfter, serial, der };
  }

  /**
   * The rows of one issuance (call inside store.write): the certificate first, so that a serial already taken
   * (a primary-key conflict: SQLite undoes that one statement) leaves nothing of this issuance written; then the
   * card, if this request registered it. True when this request created the card (its codes go to the caller).
   */
  private insertIssued(item: SignedIssue): boolean | typeof SERIAL_TAKEN {
    const { store } = this.o;
    try {
      store.insertCertificate({ serial: item.serial, card_id: item.card.card_id, profile: item.profile, not_before: item.notBefore, not_after: item.notAfter, der: Buffer.from(item.der) });
    } catch (err) {
      if (primaryKeyTaken(err)) return SERIAL_TAKEN;
      throw err;
    }
    return item.newCard ? insertCardOnce(store, item.newCard) : false;
  }

  /** A committed issuance: announced, and answered (with the codes when this request created the card). */
  private announceIssued(item: SignedIssue, created: boolean): IssuedCertificate {
    this.o.events?.emit("ca.issued", { serial: item.serial, profile: item.profile, holderId: item.card.card_id, notAfter: new Date(item.notAfter).toISOString() }, ["serial"]);
    return this.issued(item.serial, item.der, item.notBefore, item.notAfter, created ? item.codes : undefined);
  }

  /** The serial was taken (126 random bits: never, unless the random source repeats): a new serial, signed again. */
  private async redraw(item: SignedIssue, attempt: number): Promise<void> {
    if (attempt >= SERIAL_DRAWS) throw new Error(`no free serial in ${SERIAL_DRAWS} draws: the CA's random source repeats`);
    item.serial = this.newSerial();
    item.der = await this.buildLeaf(item.serial, item.profile, item.card, item.spki, item.notBefore, item.notAfter);
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
    const spki = await this.csrKey(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);
    const profile = old.profile as Profile;
    let newSerial = this.newSerial();
    let der = await this.buildLeaf(newSerial, profile, card, spki, notBefore, notAfter);
    let superseded = false;
    for (let attempt = 1; ; attempt++) {
      try {
        store.transaction(() => {
          if (challenge) authority.consumeChallenge(challenge);
          store.insertCertificate({ serial: newSerial, card_id: card.card_id, profile, not_before: notBefore, not_after: notAfter, der: Buffer.from(der) });
          if (this.o.renewal === "revoke-superseded") {
            superseded = store.setRevoked(serial, Status.revoked, REASON_CODES.superseded, at);
          }
          this.o.audit.write({ at, serial, role, action: "renew", outcome: "ok", detail: JSON.stringify({ newSerial, superseded }) });
        });
        break;
      } catch (err) {
        // The serial was taken: the whole transaction rolled back (the challenge too); a new serial, signed again.
        if (!primaryKeyTaken(err) || attempt >= SERIAL_DRAWS) throw err;
        newSerial = this.newSerial();
        der = await this.buildLeaf(newSerial, profile, card, spki, notBefore, notAfter);
      }
    }
    this.o.events?.emit("ca.issued", { serial: newSerial, profile, holderId: card.card_id, notAfter: new Date(notAfter).toISOString(), renewalOf: serial }, ["serial", "renewalOf"]);
    return this.issued(newSerial, der, notBefore, notAfter, undefined);
  }

  /** Issuing CA first, root last. Encoded once per pair of certificates: every issuance answers with it. */
  chainPem(): string[] {
    const h = this.o.hierarchy;
    const issuing = h.issuing.certificate;
    const root = h.root.certificate;
    if (this.chain?.issuing !== issuing || this.chain.root !== root) {
      this.chain = { issuing, root, pem: [encodePem(issuing, "CERTIFICATE"), encodePem(root, "CERTIFICATE")] };
    }
    return [...this.chain.pem];
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

  /**
   * Positive, 16 octets, 126 random bits (top bit clear for a positive INTEGER, next bit set to fix the length).
   * Not looked up first: two draws never meet in practice, and the insert's primary key catches it if they do
   * (insertIssued, then redraw), which spares a SQLite read per issuance.
   */
  private newSerial(): string {
    const b = this.o.random.bytes(16);
    b[0] = (b[0] & 0x7f) | 0x40;
    return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
  }

  private buildLeaf(serial: string, profile: Profile, card: CardRow, spki: Uint8Array, notBefore: number, notAfter: number): Promise<Uint8Array> {
    const subject: NameAttr[] = [[OID.commonName, card.name]];
    if (card.organisation) subject.push([OID.organization, card.organisation]);
    const issuing = this.o.hierarchy.issuing;
    const fixed = this.profileExtensions(profile, issuing.keyId);
    let ski = this.subjectKeyIds.get(spki);
    if (!ski) this.subjectKeyIds.set(spki, (ski = ext.subjectKeyIdentifier(keyIdentifier(spki))));
    const extensions = [...fixed.head, ski, ...fixed.tail, ext.emailAltName(card.email)];
    return this.sign({ serial: Buffer.from(serial, "hex"), issuer: issuing.name, subject: encodeName(subject), notBefore, notAfter, spki, extensions });
  }

  /**
   * The extensions every certificate of a profile shares (encoded once per profile, issuing key and base URL), in
   * the order they are written: before the subject key identifier, and after it until the holder's email.
   */
  private profileExtensions(profile: Profile, keyId: Uint8Array): { head: Uint8Array[]; tail: Uint8Array[] } {
    const base = this.o.baseUrl();
    const known = this.fixedExtensions.get(profile);
    if (known && known.base === base && known.keyId === keyId) return known;
    const made = {
      base,
      keyId,
      head: [
        ext.basicConstraints(false),
        profile === "authentication" ? ext.keyUsage([KU.digitalSignature]) : ext.keyUsage([KU.digitalSignature, KU.nonRepudiation]),
        ...(profile === "authentication" ? [ext.extKeyUsage([OID.kpClientAuth])] : []),
      ],
      tail: [ext.authorityKeyIdentifier(keyId), ext.ocspAccess(`${base}/ocsp`), ext.crlDistributionPoint(`${base}/crl`)],
    };
    this.fixedExtensions.set(profile, made);
    return made;
  }

  /**
   * The signed certificate. A key in a file is used on libuv's thread pool (node's callback `sign`), so under
   * load signing runs on another core while this thread serves the next request; a key in SoftHSM signs here.
   * pki builds the to-be-signed part: its signer hands it over (and stops the build), the pool signs, and the
   * three parts are joined as buildCertificate would: SEQUENCE { tbs, algorithm, BIT STRING signature }.
   */
  private async sign(spec: CertificateSpec): Promise<Uint8Array> {
    const { signer, privateKey } = this.o.hierarchy.issuing;
    if (!privateKey) return buildCertificate(spec, signer);
    let tbs: Uint8Array | undefined;
    try {
      buildCertificate(spec, {
        algorithm: signer.algorithm,
        sign: (data) => {
          tbs = data;
          throw TBS_READY;
        },
      });
    } catch (err) {
      if (err !== TBS_READY) throw err;
    }
    const signature = await new Promise<Buffer>((resolve, reject) => nodeSign("sha256", tbs!, privateKey, (err, sig) => (err ? reject(err) : resolve(sig))));
    return assembleSigned(tbs!, signer.algorithm, signature);
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

/** Thrown by the capturing signer once pki has built the to-be-signed part (Issuance.sign). */
const TBS_READY = Symbol("tbs-ready");

/** What insertIssued answers when the serial is already in the store. */
const SERIAL_TAKEN = Symbol("serial-taken");

/** Serials drawn for one issuance at most (a random source that repeats is a fault, not a loop). */
const SERIAL_DRAWS = 8;

/** Batch items checked and encoded per event-loop turn (issueMany). */
const PREPARE_SLICE = 64;

/** SQLite's answer to an insert whose primary key exists (the certificates' serial, the cards' id). */
function primaryKeyTaken(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** An issuance checked and signed, waiting for its rows to be written (its serial and leaf change only if the serial was taken). */
interface SignedIssue {
  profile: Profile;
  card: CardRow;
  /** Set when this request registered the card: written with the certificate, its codes returned once. */
  newCard?: CardRow;
  codes?: CancellationCodes;
  spki: Uint8Array;
  notBefore: number;
  notAfter: number;
  serial: string;
  der: Uint8Array;
}

/** Accepted CSRs whose verdict is remembered (about 2 KB each: at most ~0.5 MB). */
const CSR_CACHE = 256;

/**
 * Two concurrent first issuances for one card: only the first creates it (and hands out codes). The insert is
 * tried and a taken card id (SQLite undoes that one statement) means another request created it: no lookup first.
 */
function insertCardOnce(store: CaStore, row: CardRow): boolean {
  try {
    store.insertCard(row);
    return true;
  } catch (err) {
    if (primaryKeyTaken(err)) return false;
    throw err;
  }
}
