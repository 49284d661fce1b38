import { createHash, verify as verifySig } from "node:crypto";
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
import { CaError, type IssuedCertificate, type RevocationReason } from "../../simulator/ca/index.js";
import { TerminalRefusal } from "../../simulator/terminal/index.js";
import { DecodeError } from "../../pki/index.js";
import { normSerial } from "../pkix.js";
import { notJudged } from "./refusals.js";
import { fail, pass, Precondition, type Check, type CheckContext } from "./types.js";

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

class Failed extends Error {}

const PIN = "482913";

type SigningSlot = Parameters<PivClient["signDigest"]>[0];

async function signWithCard(reader: Reader, slot: SigningSlot, data: Uint8Array): Promise<{ der: Uint8Array; signature: Uint8Array }> {
  const client = await openSession(reader);
  try {
    const cert = await readCertificate(client, slot);
    if (!cert) throw new Failed(`no certificate in slot ${slot.toString(16)}`);
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
    // A relying party's verdict rests on the certificates, the renewal, the revocation and the CRL it reads.
    judges: ["issuance", "renewal", "revocation", "crl"],
    credentials: ["raToken"],
    async run(ctx) {
      const steps: StepRecord[] = [];
      const step = (name: string, ok: boolean, detail: string) => {
        steps.push({ step: name, ok, detail });
        if (!ok) throw new Failed(`${name}: ${detail}`);
      };
      try {
        await runLifecycle(ctx, step);
      } catch (err) {
        if (err instanceof Failed) return fail(err.message, { steps });
        const after = steps.length ? `after ${steps[steps.length - 1].step}: ` : "";
        const refused = caRefusal(err);
        if (refused) {
          // A credential certify lacks, or the CA throttling certify: nothing about the lifecycle (not judged).
          if (refused.status === 401 || refused.status === 429) notJudged(refused);
          return fail(`${after}the CA refused a step of the lifecycle the policy allows (${refused.status} ${refused.reason}: ${refused.message.split("\n")[0]})`, { steps, status: refused.status, reason: refused.reason });
        }
        if (err instanceof DecodeError) return fail(`${after}the CA's answer does not decode: ${err.message}`, { steps });
        // Precondition, NotJudged, an unreachable CA, a bug in cardloop: judgement.ts says what each means.
        throw err;
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
  const policy = ctx.policy.reasonsByRole.holder ?? [];
  const reason = policy.includes("cessationOfOperation") ? "cessationOfOperation" : ctx.fx.reasonFor("holder");
  if (!reason) throw new Precondition(`the policy ${ctx.policy.name} lets the holder give none of a card's reasons, so the holder cannot revoke the card`);
  return reason;
}

async function runLifecycle(ctx: CheckContext, step: (name: string, ok: boolean, detail: string) => void): Promise<void> {
  const { ca, caps, clock } = ctx;
  const now = clock.now();
  const cardExpiry = new Date(Date.UTC(now.getUTCFullYear() + 5, now.getUTCMonth(), now.getUTCDate()));
  const card = PivCard.create({ expires: cardExpiry });
  const reader = new MemoryReader(card, { name: "certify lifecycle" });
  const holder = ctx.fx.holder("lifecycle");
  const anchors = (await ca.anchors()).map((p) => pemToDer(p));

  let chain: string[] = [];
  const check = async (certDer: Uint8Array, at: Date, usage: Usage, revocation: "require" | "off" = "require"): Promise<ValidationResult> => {
    const crls = revocation === "off" ? [] : [await ca.crl(), ...((await ca.authorityCrls?.()) ?? [])];
    return validate(certDer, { anchors, intermediates: chain.map((p) => pemToDer(p)), time: at, usage, revocation, crls });
  };
  const describe = (r: ValidationResult) => (r.valid ? "valid" : `${r.code}: ${r.detail}`);

  // issue: keys made on the card, requests signed by the card, certificates written back
  const station = new IssuanceStation({ ca, clock });
  const issued = await station.personalise(reader, { holder, pin: PIN });
  chain = issued.authentication.chainPem;
  const certs = (r: { authentication: IssuedCertificate; signature: IssuedCertificate }) => [r.authentication, r.signature];
  step("issue", issued.authentication.notAfter <= cardExpiry && issued.signature.notAfter <= cardExpiry, `serials ${certs(issued).map((c) => c.serial).join(", ")}`);

  // use: authentication (challenge signed with 9A) and a document signature (9C), validated now
  const challenge = createHash("sha256").update(`challenge ${holder.id}`).digest();
  const auth = await signWithCard(reader, SLOT.authentication, challenge);
  const authCheck = await check(auth.der, clock.now(), "authentication");
  step("authenticate", signatureVerifies(auth.der, challenge, auth.signature) && authCheck.valid, describe(authCheck));

  const document = new TextEncoder().encode(`lease for ${holder.name}`);
  const signedAt = clock.now();
  const signed = await signWithCard(reader, SLOT.signature, document);
  const signCheck = await check(signed.der, signedAt, "signature");
  step("sign", signatureVerifies(signed.der, document, signed.signature) && signCheck.valid, describe(signCheck));
  // CRLs and OCSP state revocation times to the second: let the signing second end before anything is revoked
  await new Promise((r) => setTimeout(r, 1050 - (clock.nowMs() % 1000)));

  // expire: a relying party refuses the certificate once notAfter has passed
  const afterExpiry = new Date(issued.authentication.notAfter.getTime() + 1000);
  const expired = await check(auth.der, afterExpiry, "authentication", "off");
  step("expire", !expired.valid && expired.code === "expired", describe(expired));

  // renew: new keys and certificates at the kiosk; the card authenticates with the new one
  let current = issued;
  if (caps.renew) {
    const kiosk = new RenewalKiosk({ ca, clock });
    const renewed = await kiosk.renew(reader, { pin: PIN, holder });
    const changed = certs(renewed).every((c, i) => normSerial(c.serial) !== normSerial(certs(issued)[i].serial));
    const again = await signWithCard(reader, SLOT.authentication, challenge);
    const againCheck = await check(again.der, clock.now(), "authentication");
    step("renew", changed && againCheck.valid, `new serials ${certs(renewed).map((c) => c.serial).join(", ")}; ${describe(againCheck)}`);
    current = { ...renewed, cancellationCodes: issued.cancellationCodes, cardExpiry };
  }

  // revoke: the holder, with the code handed out at issuance; then the card is refused
  const reason = holderReason(ctx);
  for (const c of certs(current)) {
    const revoke = () => ca.revoke({ serial: c.serial, reason, role: "holder", code: issued.cancellationCodes?.holder, email: holder.email, name: holder.name });
    await ctx.fx.unthrottled(revoke);
  }
  const horizon = ctx.options.propagationHorizonMs ?? ctx.options.propagationThresholdMs * 2;
  const polls = Math.ceil(horizon / ctx.options.pollIntervalMs) + 1;
  const final = await signWithCard(reader, SLOT.authentication, challenge);
  let refused: ValidationResult = { valid: true, path: [], revocations: [] };
  for (let i = 0; i < polls; i++) {
    refused = await check(final.der, clock.now(), "authentication");
    if (!refused.valid) break;
    await new Promise((r) => setTimeout(r, ctx.options.pollIntervalMs));
  }
  step("revoke", !refused.valid && refused.code === "revoked", describe(refused));

  // a signature made before the revocation stays valid at its signing time
  const still = await check(signed.der, signedAt, "signature");
  step("signature before revocation", still.valid, describe(still));
}
