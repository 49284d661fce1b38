import { createHash, verify as verifySig } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { reasonAllowed } from "../../core/index.js";
import { Certificate, pemToDer, publicKeyOf, validate, type ValidationResult, type Usage } from "../../pki/index.js";
import { PivCard } from "../../simulator/card/index.js";
import { MemoryReader, type Reader } from "../../simulator/reader/index.js";
import {
  IssuanceStation,
  RenewalKiosk,
  SLOT,
  closeSession,
  openSession,
  readCertificate,
  signatureScheme,
  verifyPin,
  type PivClient,
} from "../../simulator/terminal/index.js";
import { CaError, type Artefact, type IssuedCertificate, type RevocationReason } from "../../simulator/ca/index.js";
import { TerminalRefusal } from "../../simulator/terminal/index.js";
import { firstLine, harnessRefusal, judgeThrown } from "../judgement.js";
import { normSerial } from "../pkix.js";
import { isCaRefusal } from "./refusals.js";
import { fail, pass, Precondition, type Check, type CheckContext, type Verdict } from "./types.js";

/**
 * The card lifecycle of the policy (issue, use, expire, renew, revoke) run
 * through the CA under test with cardloop's own terminals: an emulated PIV
 * card in a memory reader, the issuance station, the renewal kiosk, and a
 * relying party validating with pki/ (full path, revocation required).
 *
 * The scenario engine (scenarios/) opens its CA by name only, so it cannot run
 * a scenario through an arbitrary CaAdapter; this check drives the same
 * terminals directly. The CA keeps real time: expiry is judged by validating
 * after notAfter, not by moving the CA's clock.
 */
interface StepRecord {
  step: string;
  ok: boolean;
  detail: string;
}

/** A step that did not go as the policy says, and the artefacts its failure rests on. */
class Failed extends Error {
  constructor(
    message: string,
    readonly restsOn: Artefact[],
  ) {
    super(message);
  }
}

/**
 * What the lifecycle is doing now, and the artefacts a failure there rests
 * on: the CA's issuance while the station personalises the card, its renewal
 * at the kiosk, its revocation when the holder revokes, its CRL while a
 * relying party fetches one. A verdict rests on the failing step only, so
 * that a CA's own issuance failing is a CA defect even where the adapter
 * makes the renewal or the CRL itself.
 */
class Progress {
  step = "issue";
  restsOn: Artefact[] = ["issuance"];
  at(step: string, restsOn: Artefact[]): void {
    this.step = step;
    this.restsOn = restsOn;
  }
  /** `fetch` with the failure resting on `restsOn`, then back to the step's own artefacts. */
  async fetching<T>(restsOn: Artefact[], fetch: () => Promise<T>): Promise<T> {
    const before = this.restsOn;
    this.restsOn = restsOn;
    const r = await fetch();
    this.restsOn = before;
    return r;
  }
}

/**
 * What a relying party's refusal of a certificate rests on: the CRL it read
 * (crl-* codes; "revoked" where nothing was revoked yet, or a signature made
 * before the revocation refused at its time), OCSP (ocsp-*), or else the
 * certificate itself (`cert`: issuance or renewal). A certificate still
 * accepted after its revocation was acknowledged: the CRL.
 */
function refusalRestsOn(r: ValidationResult, cert: Artefact): Artefact[] {
  if (r.valid || r.code === "revoked" || r.code.startsWith("crl-")) return ["crl"];
  if (r.code.startsWith("ocsp-")) return ["ocsp"];
  // A certificate or a CRL that does not decode: either.
  if (r.code === "malformed") return [cert, "crl"];
  return [cert];
}

const PIN = "482913";

type SigningSlot = Parameters<PivClient["signDigest"]>[0];

/** `writtenBy`: what put the slot's certificate there (issuance or renewal), which a missing one rests on. */
async function signWithCard(reader: Reader, slot: SigningSlot, data: Uint8Array, writtenBy: Artefact): Promise<{ der: Uint8Array; signature: Uint8Array }> {
  const client = await openSession(reader);
  try {
    const cert = await readCertificate(client, slot);
    if (!cert) throw new Failed(`no certificate in slot ${slot.toString(16)}`, [writtenBy]);
    await verifyPin(client, PIN); // slot 9C wants the PIN right before each signature
    const digest = createHash(signatureScheme(cert.alg).hash).update(data).digest();
    const signature = await client.signDigest(slot, cert.alg, digest);
    return { der: cert.der, signature };
  } finally {
    await closeSession(reader);
  }
}

function signatureVerifies(certDer: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const key = publicKeyOf(new Certificate(certDer).spki).key;
  return key !== undefined && verifySig("sha256", data, key, signature);
}

export const lifecycleChecks: Check[] = [
  {
    id: "LIFECYCLE-SCENARIO",
    title: "The card lifecycle (issue, use, expire, renew, revoke) runs through this CA",
    source: "lifecycle policy: issue, use, expire, renew, revoke",
    level: "MUST",
    // A relying party's verdict rests on the certificates, the renewal, the revocation and the CRL it reads; each
    // failure on the failing step's own (`restsOn`).
    judges: ["issuance", "renewal", "revocation", "crl"],
    credentials: ["raToken"],
    async run(ctx) {
      const steps: StepRecord[] = [];
      const progress = new Progress();
      const step = (name: string, ok: boolean, detail: string, restsOn: () => Artefact[]) => {
        steps.push({ step: name, ok, detail });
        if (!ok) throw new Failed(`${name}: ${detail}`, restsOn());
      };
      const failed = (message: string, evidence: Record<string, unknown>, restsOn: Artefact[]): Verdict => ({ ...fail(message, { ...evidence, restsOn }), restsOn });
      try {
        await runLifecycle(ctx, step, progress);
      } catch (err) {
        if (err instanceof Failed) return failed(err.message, { steps }, err.restsOn);
        const after = steps.length ? `after ${steps[steps.length - 1].step}: ` : "";
        // The CA's own error, also where a terminal passed it on.
        const thrown = caRefusal(err) ?? err;
        // A step refused (a 4xx other than a credential certify lacks, 401, or throttling, 429): the CA refused what the
        // policy allows.
        if (isCaRefusal(thrown) && !harnessRefusal(thrown)) {
          return failed(
            `${after}the CA refused a step of the lifecycle the policy allows (${thrown.status} ${thrown.reason}: ${firstLine(thrown)})`,
            { steps, step: progress.step, status: thrown.status, reason: thrown.reason },
            progress.restsOn,
          );
        }
        // A CA defect (a 5xx, an answer that does not decode) rests on the failing step; anything else (Precondition,
        // NotJudged, a 401, 429, 502, 503 or 504, an unreachable CA, a bug in cardloop) is as judgement.ts says.
        const j = judgeThrown(thrown);
        if (j.outcome === "fail") return failed(`${after}${j.message}`, { ...j.evidence, steps, step: progress.step }, progress.restsOn);
        return j;
      }
      return pass(`${steps.length} steps as the policy says`, { steps });
    },
  },
];

/**
 * A CA's refusal, whether the CA adapter threw it or a terminal passed it on
 * (the renewal kiosk wraps it as a TerminalRefusal "ca-refused").
 */
function caRefusal(err: unknown): CaError | undefined {
  if (err instanceof CaError) return err;
  if (err instanceof TerminalRefusal && err.reason === "ca-refused" && typeof err.details.status === "number") {
    return new CaError(err.details.status, String(err.details.caReason ?? "ca-refused"), err.message);
  }
  return undefined;
}

/**
 * The reason the holder gives: cessationOfOperation (the card is retired,
 * so a signature made before stays valid) where the policy lets the holder
 * give it, else another the policy allows.
 */
function holderReason(ctx: CheckContext): RevocationReason {
  const reason = reasonAllowed(ctx.policy, "holder", "cessationOfOperation") ? "cessationOfOperation" : ctx.fx.reasonFor("holder");
  if (!reason) throw new Precondition(`the policy ${ctx.policy.name} lets the holder give none of a card's reasons, so the holder cannot revoke the card`);
  return reason;
}

async function runLifecycle(ctx: CheckContext, step: (name: string, ok: boolean, detail: string, restsOn: () => Artefact[]) => void, progress: Progress): Promise<void> {
  const { ca, caps, clock } = ctx;
  const now = clock.now();
  const cardExpiry = new Date(Date.UTC(now.getUTCFullYear() + 5, now.getUTCMonth(), now.getUTCDate()));
  const card = PivCard.create({ expires: cardExpiry });
  const reader = new MemoryReader(card, { name: "certify lifecycle" });
  const holder = ctx.fx.holder("lifecycle");
  const anchors = (await ca.anchors()).map((p) => pemToDer(p));

  let chain: string[] = [];
  const check = async (certDer: Uint8Array, at: Date, usage: Usage, revocation: "require" | "off" = "require"): Promise<ValidationResult> => {
    const crls = revocation === "off" ? [] : await progress.fetching(["crl"], async () => [await ca.crl(), ...((await ca.authorityCrls?.()) ?? [])]);
    // Lenient: the section 4 and CRL-number profile have checks of their own (ISS-*, CRL-NUMBER); the lifecycle judges the lifecycle.
    return validate(certDer, { anchors, intermediates: chain.map((p) => pemToDer(p)), time: at, usage, revocation, crls, profile: "lenient" });
  };
  const describe = (r: ValidationResult) => (r.valid ? "valid" : `${r.code}: ${r.detail}`);
  /** A card's use: its signature verifies under the certificate, which the relying party accepts. */
  const used = (verifies: boolean, r: ValidationResult, cert: Artefact) => () => (verifies ? refusalRestsOn(r, cert) : [cert]);

  // issue: keys made on the card, requests signed by the card, certificates written back
  progress.at("issue", ["issuance"]);
  const station = new IssuanceStation({ ca, clock });
  const issued = await station.personalise(reader, { holder, pin: PIN });
  chain = issued.authentication.chainPem;
  const certs = (r: { authentication: IssuedCertificate; signature: IssuedCertificate }) => [r.authentication, r.signature];
  step("issue", issued.authentication.notAfter <= cardExpiry && issued.signature.notAfter <= cardExpiry, `serials ${certs(issued).map((c) => c.serial).join(", ")}`, () => ["issuance"]);

  // use: authentication (challenge signed with 9A) and a document signature (9C), validated now
  progress.at("authenticate", ["issuance"]);
  const challenge = createHash("sha256").update(`challenge ${holder.id}`).digest();
  const auth = await signWithCard(reader, SLOT.authentication, challenge, "issuance");
  const authCheck = await check(auth.der, clock.now(), "authentication");
  const authVerifies = signatureVerifies(auth.der, challenge, auth.signature);
  step("authenticate", authVerifies && authCheck.valid, describe(authCheck), used(authVerifies, authCheck, "issuance"));

  progress.at("sign", ["issuance"]);
  const document = new TextEncoder().encode(`lease for ${holder.name}`);
  const signedAt = clock.now();
  const signed = await signWithCard(reader, SLOT.signature, document, "issuance");
  const signCheck = await check(signed.der, signedAt, "signature");
  const signVerifies = signatureVerifies(signed.der, document, signed.signature);
  step("sign", signVerifies && signCheck.valid, describe(signCheck), used(signVerifies, signCheck, "issuance"));
  // CRLs and OCSP state revocation times to the second: let the signing second end before anything is revoked
  await sleep(1050 - (clock.nowMs() % 1000));

  // expire: a relying party refuses the certificate once notAfter has passed
  progress.at("expire", ["issuance"]);
  const afterExpiry = new Date(issued.authentication.notAfter.getTime() + 1000);
  const expired = await check(auth.der, afterExpiry, "authentication", "off");
  step("expire", !expired.valid && expired.code === "expired", describe(expired), () => ["issuance"]);

  // renew: new keys and certificates at the kiosk; the card authenticates with the new one
  let current = issued;
  let currentArtefact: Artefact = "issuance";
  if (caps.renew) {
    progress.at("renew", ["renewal"]);
    const kiosk = new RenewalKiosk({ ca, clock });
    const renewed = await kiosk.renew(reader, { pin: PIN, holder });
    const changed = certs(renewed).every((c, i) => normSerial(c.serial) !== normSerial(certs(issued)[i].serial));
    const again = await signWithCard(reader, SLOT.authentication, challenge, "renewal");
    const againCheck = await check(again.der, clock.now(), "authentication");
    const againVerifies = signatureVerifies(again.der, challenge, again.signature);
    step("renew", changed && againCheck.valid, `new serials ${certs(renewed).map((c) => c.serial).join(", ")}; ${describe(againCheck)}`, () =>
      changed ? used(againVerifies, againCheck, "renewal")() : ["renewal"],
    );
    current = { ...renewed, cancellationCodes: issued.cancellationCodes, cardExpiry };
    currentArtefact = "renewal";
  }

  // revoke: the holder, with the code handed out at issuance; then the card is refused
  progress.at("revoke", ["revocation"]);
  const reason = holderReason(ctx);
  for (const c of certs(current)) {
    await ctx.fx.unthrottled(ctx.fx.holderRevocation({ issued: c, holder }, reason, issued.cancellationCodes?.holder));
  }
  const polls = Math.ceil(ctx.fx.horizonMs() / ctx.options.pollIntervalMs) + 1;
  const final = await signWithCard(reader, SLOT.authentication, challenge, currentArtefact);
  let refused: ValidationResult = await check(final.der, clock.now(), "authentication");
  for (let i = 1; i < polls && refused.valid; i++) {
    await sleep(ctx.options.pollIntervalMs);
    refused = await check(final.der, clock.now(), "authentication");
  }
  // The CA acknowledged the revocations: a card still accepted is the CRL's doing.
  step("revoke", !refused.valid && refused.code === "revoked", describe(refused), () => refusalRestsOn(refused, currentArtefact));

  // a signature made before the revocation stays valid at its signing time
  progress.at("signature before revocation", ["crl"]);
  const still = await check(signed.der, signedAt, "signature");
  step("signature before revocation", still.valid, describe(still), () => refusalRestsOn(still, "issuance"));
}
