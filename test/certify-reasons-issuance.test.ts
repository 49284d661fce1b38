import test, { type ExecutionContext } from "ava";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { EventBus, SystemClock } from "../core/index.js";
import { buildCertificate, Certificate, CertificationRequest, encodeName, encodePem, ext, OID, parseOcspRequest, pemToDer, softwareSigningKey } from "../pki/index.js";
import { CaError, type CaAdapter, type EmbeddedCa, type IssueRequest, type Provenance, type RevokeRequest } from "../simulator/ca/index.js";
import { createEmbeddedAdapter, type EmbeddedAdapterOptions } from "../conformance/adapters/embedded.js";
import { FaultyCa, type Fault } from "../conformance/adapters/faulty.js";
import { RefusingCa, type RefusableOps, type Refusal } from "../conformance/adapters/refusing.js";
import { runCatalog, type CheckResult } from "../conformance/runner.js";
import { CATALOG, type CertifyOptions } from "../conformance/checks/index.js";
import { keyHash, normSerial } from "../conformance/pkix.js";

/**
 * The issuance, authorisation and lifecycle checks pass only for their own
 * reason: each runs alone against the embedded CA made to do the wrong thing
 * the check is about (a FaultyCa), hidden behind a refusal for another reason
 * (a RefusingCa) or another way to be vacuously right, and is not given a
 * pass; and each still passes on the correct embedded CA.
 */
const clock = new SystemClock();
const OPTIONS: Partial<CertifyOptions> = { propagationThresholdMs: 3_000, propagationHorizonMs: 3_000, concurrency: 4 };

async function embedded(t: ExecutionContext, o: EmbeddedAdapterOptions = {}): Promise<EmbeddedCa> {
  const ca = await createEmbeddedAdapter(o);
  t.teardown(() => ca.close());
  return ca;
}

async function runOne(ca: CaAdapter, id: string): Promise<CheckResult> {
  const r = await runCatalog(ca, { bus: new EventBus(clock), clock, only: [id], options: OPTIONS });
  return r.results[0];
}

const faulty = async (t: ExecutionContext, fault: Fault, o: EmbeddedAdapterOptions = {}) => new FaultyCa(await embedded(t, o), fault);
/** `inner` refusing what each refusal names (`op` types its `when`). */
const refusing = <K extends keyof RefusableOps>(inner: CaAdapter, refusal: Refusal<K>) => new RefusingCa(inner, [refusal as unknown as Refusal]);
const describe = (r: CheckResult) => `${r.outcome}${r.cause ? ` (${r.cause})` : ""}: ${r.message}`;

/** Any CA with some of its methods replaced. */
function override(inner: CaAdapter, methods: Partial<CaAdapter>): CaAdapter {
  return new Proxy(inner, {
    get(target, p, receiver) {
      if (p in methods) return (methods as Record<string | symbol, unknown>)[p];
      const v = Reflect.get(target, p, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const brokenSignature = (req: IssueRequest) => !new CertificationRequest(pemToDer(req.csrPem)).verify();
const weakKey = (req: IssueRequest) => {
  const key = createPublicKey({ key: Buffer.from(new CertificationRequest(pemToDer(req.csrPem)).spki), format: "der", type: "spki" });
  return key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048;
};

function notJudgedOtherwise(t: ExecutionContext, r: CheckResult, status: number, reason: string) {
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "refused-otherwise", describe(r));
  t.like(r.evidence, { status, reason });
}

/** A connection reset, as the transport reports it (judgement.ts: unreachable). */
const reset = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

/**
 * `inner`, its certificates re-made with the serials given, in turn (same
 * validity and key, another issuer): what a CA drawing serials that way hands
 * out, for the checks that read serials only.
 */
function withSerials(inner: CaAdapter, serials: string[]): CaAdapter {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const signer = softwareSigningKey(keys.privateKey, keys.publicKey);
  const name = encodeName([[OID.commonName, "Certify Serial Test CA"]]);
  let next = 0;
  return override(inner, {
    issue: async (req) => {
      const issued = await inner.issue(req);
      const serial = serials[next++ % serials.length];
      const real = new Certificate(pemToDer(issued.certificatePem));
      const der = buildCertificate({ serial: Buffer.from(serial, "hex"), issuer: name, subject: name, notBefore: real.notBefore, notAfter: real.notAfter, spki: real.spki, extensions: [ext.basicConstraints(false)] }, signer);
      return { ...issued, serial, certificatePem: encodePem(der, "CERTIFICATE") };
    },
  });
}

/** `inner`'s `n`th issuance (from 1) throwing what `error` makes, every other going through. */
function failingNth(inner: CaAdapter, n: number, error: () => Error): CaAdapter {
  let count = 0;
  return override(inner, {
    issue: async (req) => {
      if (++count === n) throw error();
      return inner.issue(req);
    },
  });
}

// ------------------------------------------------------------------ ISS-CSR-SIGNATURE, ISS-WEAK-KEY

test("ISS-CSR-SIGNATURE: a CA that issues for broken signatures, hiding it behind a 400 about the profile, is not given a pass", async (t) => {
  const ca = refusing(await faulty(t, "accept-broken-csr"), { op: "issue", when: brokenSignature, status: 400, reason: "bad-profile", message: 'profile must be "authentication" or "signature"' });
  notJudgedOtherwise(t, await runOne(ca, "ISS-CSR-SIGNATURE"), 400, "bad-profile");
});

test("ISS-CSR-SIGNATURE: the correct CA passes on its refusal of the signature (400 bad-csr-signature), and it is evidence", async (t) => {
  const r = await runOne(await embedded(t), "ISS-CSR-SIGNATURE");
  t.is(r.outcome, "pass", describe(r));
  t.like(r.evidence, { status: 400, reason: "bad-csr-signature" });
  t.regex(String(r.evidence.caMessage), /signature does not verify/);
});

test("ISS-WEAK-KEY: a CA that issues for RSA-1024, hiding it behind a 413 body limit, is not given a pass", async (t) => {
  const ca = refusing(await faulty(t, "accept-weak-key"), { op: "issue", when: weakKey, status: 413, reason: "too-large", message: "the body is larger than this endpoint takes (4096 bytes)" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-WEAK-KEY"), 413, "too-large");
});

test("ISS-WEAK-KEY: a refusal of the weak key for a reason about the signature is not the weak key's", async (t) => {
  const ca = refusing(await faulty(t, "accept-weak-key"), { op: "issue", when: weakKey, status: 400, reason: "bad-csr-signature", message: "the certificate request's signature does not verify" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-WEAK-KEY"), 400, "bad-csr-signature");
});

test("ISS-WEAK-KEY: the correct CA passes on its refusal of the key (400 weak-key)", async (t) => {
  const r = await runOne(await embedded(t), "ISS-WEAK-KEY");
  t.is(r.outcome, "pass", describe(r));
  t.like(r.evidence, { status: 400, reason: "weak-key" });
});

test("ISS-CSR-SIGNATURE: a CA refusing every request as a bad signature (400 bad-csr-signature) fails: it refuses a request whose signature verifies", async (t) => {
  const ca = refusing(await embedded(t), { op: "issue", status: 400, reason: "bad-csr-signature", message: "the certificate request's signature does not verify" });
  const r = await runOne(ca, "ISS-CSR-SIGNATURE");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /refused a well-formed request \(a request whose signature verifies\) with 400 bad-csr-signature.*RFC 2986/);
  t.like(r.evidence, { status: 400, reason: "bad-csr-signature" });
});

test("ISS-CSR-SIGNATURE: a CA that refuses well-formed requests for another reason (400 bad-holder) is not judged: nothing shows it issues at all", async (t) => {
  const ca = refusing(await embedded(t), { op: "issue", when: (r) => !brokenSignature(r), status: 400, reason: "bad-holder", message: "holder.email is not an email address" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-CSR-SIGNATURE"), 400, "bad-holder");
});

test("ISS-CSR-SIGNATURE: the control is the shared card's certificate: its serial is in the evidence of a pass", async (t) => {
  const r = await runOne(await embedded(t), "ISS-CSR-SIGNATURE");
  t.is(r.outcome, "pass", describe(r));
  t.like(r.evidence, { control: { right: "a request whose signature verifies" } });
  t.regex(String((r.evidence.control as { serial: string }).serial), /^[0-9a-f]+$/i);
});

test("ISS-WEAK-KEY: a CA refusing every key as weak (400 weak-key) fails: it refuses a P-256 key", async (t) => {
  const ca = refusing(await embedded(t), { op: "issue", status: 400, reason: "weak-key", message: "RSA keys must be at least 2048 bits" });
  const r = await runOne(ca, "ISS-WEAK-KEY");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /refused a well-formed request \(a P-256 key\) with 400 weak-key/);
});

test("ISS-WEAK-KEY: a CA that refuses strong keys for another reason (403 forbidden) is not judged", async (t) => {
  const ca = refusing(await embedded(t), { op: "issue", when: (r) => !weakKey(r), status: 403, reason: "forbidden", message: "the issuing station may not issue now" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-WEAK-KEY"), 403, "forbidden");
});

// ------------------------------------------------------------------ ISS-SERIAL-ENTROPY, ISS-SERIAL-FORMAT, ISS-CONCURRENT-SERIALS

/** Four serials of exactly 64 random bits: one begins with a zero nibble, one with a zero octet, one needs a sign octet. */
const SERIALS_64 = ["0f3a9c51d27e4b86", "8c21f0e9a7d35b14", "3b7e05c9d1a2f468", "00d4a7c3e95b2f81"];

test("ISS-SERIAL-ENTROPY: 64-bit random serials pass whatever their leading zeros (judged on the batch's longest, not each one's)", async (t) => {
  const r = await runOne(withSerials(await embedded(t), SERIALS_64), "ISS-SERIAL-ENTROPY");
  t.is(r.outcome, "pass", describe(r));
  t.deepEqual(r.evidence.bitLengths, [56, 60, 62, 64]); // in ascending order of the serials
  t.like(r.evidence, { longestBits: 64, failAtOrBelowBits: 56 });
});

test("ISS-SERIAL-ENTROPY: serials never longer than 56 bits (7 octets) fail: they cannot carry 64 random bits", async (t) => {
  const r = await runOne(withSerials(await embedded(t), ["7c3a51d27e4b86", "21f0e9a7d35b14", "5e05c9d1a2f468", "d4a7c3e95b2f80"]), "ISS-SERIAL-ENTROPY");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /longest of 4 serials is 56 bits/);
});

test("ISS-SERIAL-ENTROPY: wide serials from a counter still fail on the gap", async (t) => {
  const counter = ["7000000000000000000001", "7000000000000000000002", "7000000000000000000003", "7000000000000000000004"];
  const r = await runOne(withSerials(await embedded(t), counter), "ISS-SERIAL-ENTROPY");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /differ by only 0x1: predictable/);
});

test("ISS-SERIAL-FORMAT: judged on the DER INTEGER: a leading zero nibble or a sign octet is no fault", async (t) => {
  const r = await runOne(withSerials(await embedded(t), SERIALS_64), "ISS-SERIAL-FORMAT");
  t.is(r.outcome, "pass", describe(r));
  t.deepEqual((r.evidence.serials as Array<{ derContents: string }>).map((x) => x.derContents), ["0f3a9c51d27e4b86", "008c21f0e9a7d35b14"]);
});

test("ISS-CONCURRENT-SERIALS: a request of the batch refused for another reason (413) leaves it not judged, not failed", async (t) => {
  const ca = failingNth(await embedded(t), 2, () => new CaError(413, "too-large", "the body is larger than this endpoint takes (4096 bytes)"));
  const r = await runOne(ca, "ISS-CONCURRENT-SERIALS");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "refused-otherwise", describe(r));
  t.regex(r.message, /^1 of 4 concurrent requests were not issued \(the first: .*413 too-large/);
});

test("ISS-CONCURRENT-SERIALS: a connection reset in the batch is not judged (unreachable)", async (t) => {
  const r = await runOne(failingNth(await embedded(t), 3, reset), "ISS-CONCURRENT-SERIALS");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "unreachable", describe(r));
});

test("ISS-CONCURRENT-SERIALS: a request of the batch failed by the CA (500) is a fail", async (t) => {
  const r = await runOne(failingNth(await embedded(t), 2, () => new CaError(500, "internal", "database is locked")), "ISS-CONCURRENT-SERIALS");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /^1 of 4 concurrent requests failed: the CA failed a well-formed request \(500 internal/);
});

test("ISS-CONCURRENT-SERIALS: duplicate serials are a fail, and the correct CA passes", async (t) => {
  const bad = await runOne(await faulty(t, "duplicate-concurrent"), "ISS-CONCURRENT-SERIALS");
  t.is(bad.outcome, "fail", describe(bad));
  t.regex(bad.message, /^duplicate serials: .*RFC 5280 4\.1\.2\.2/);
  const good = await runOne(await embedded(t), "ISS-CONCURRENT-SERIALS");
  t.is(good.outcome, "pass", describe(good));
});

// ------------------------------------------------------------------ ISS-VALIDITY-CARD-EXPIRY, ISS-AKI

test("ISS-VALIDITY-CARD-EXPIRY: a CA that ignores the card's expiry fails even when its own lifetime (1 year) is shorter than 400 days", async (t) => {
  const r = await runOne(await faulty(t, "ignore-card-expiry", { maxValidityYears: 1 }), "ISS-VALIDITY-CARD-EXPIRY");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /outlives the card/);
});

test("ISS-VALIDITY-CARD-EXPIRY: a CA with a 1-year lifetime that caps at the card's expiry passes, with the uncapped validity as evidence", async (t) => {
  const r = await runOne(await embedded(t, { maxValidityYears: 1 }), "ISS-VALIDITY-CARD-EXPIRY");
  t.is(r.outcome, "pass", describe(r));
  t.true(new Date(String(r.evidence.cardExpiry)) < new Date(String(r.evidence.uncappedNotAfter)));
});

test("ISS-AKI: compared with the certificate's own issuer, wherever the CA puts it in the chain; with no issuer handed out, not judged here", async (t) => {
  const ca = await embedded(t);
  const reversed = override(ca, { issue: async (req) => ({ ...(await ca.issue(req)), chainPem: [...ca.chainPem()].reverse() }) });
  const r = await runOne(reversed, "ISS-AKI");
  t.is(r.outcome, "pass", describe(r));
  const rootOnly = override(ca, { issue: async (req) => ({ ...(await ca.issue(req)), chainPem: ca.chainPem().slice(1) }) });
  const none = await runOne(rootOnly, "ISS-AKI");
  t.is(none.outcome, "skip", describe(none));
  t.regex(none.message, /see ISS-SIGNATURE/);
});

// ------------------------------------------------------------------ ISS-AUTH-REQUIRED

test("ISS-AUTH-REQUIRED: a CA that issues without the station's credential, hiding it behind a 400 about the holder, is not judged", async (t) => {
  const ca = refusing(await faulty(t, "issue-without-credential"), { op: "issue", when: (r) => !r.raToken, status: 400, reason: "bad-holder", message: "holder.email is not an email address" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-AUTH-REQUIRED"), 400, "bad-holder");
});

test("ISS-AUTH-REQUIRED: a 429 is the CA throttling certify, not a refusal of the credential", async (t) => {
  const inner = await embedded(t);
  const ca = refusing(inner, { op: "issue", when: (r) => r.raToken !== inner.raToken, status: 429, reason: "too-many-requests", message: "at most 16 requests at once per client" });
  const r = await runOne(ca, "ISS-AUTH-REQUIRED");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "throttled");
});

test("ISS-AUTH-REQUIRED: the correct CA passes on 401 and 403 credential refusals", async (t) => {
  const r = await runOne(await embedded(t), "ISS-AUTH-REQUIRED");
  t.is(r.outcome, "pass", describe(r));
  const attempts = r.evidence.attempts as Array<{ attempt: string; refused: number; reason: string }>;
  t.deepEqual(
    attempts.map((a) => [a.attempt, a.refused, a.reason]),
    [
      ["no credential", 401, "credential-required"],
      ["a made-up credential", 401, "bad-credential"],
      ["the operator's token", 403, "forbidden"],
    ],
  );
});

/** `inner` refusing a second certificate for a holder it already issued to (403 forbidden), whoever asks. */
function oneCertificatePerHolder(inner: CaAdapter): CaAdapter {
  const known = new Set<string>();
  return override(inner, {
    issue: async (req) => {
      if (known.has(req.holder.id)) throw new CaError(403, "forbidden", "this holder already has a certificate");
      const r = await inner.issue(req);
      known.add(req.holder.id);
      return r;
    },
  });
}

test("ISS-AUTH-REQUIRED: a CA that checks no credential but refuses a holder it knows (403 forbidden) fails: each attempt is for a fresh holder", async (t) => {
  const r = await runOne(oneCertificatePerHolder(await faulty(t, "issue-without-credential")), "ISS-AUTH-REQUIRED");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /^the CA issued to a caller with no credential/);
});

test("ISS-AUTH-REQUIRED: a generic 403 forbidden for no credential is not a credential refusal: not judged", async (t) => {
  const ca = refusing(await faulty(t, "issue-without-credential"), { op: "issue", when: (r) => !r.raToken, status: 403, reason: "forbidden", message: "the credentials do not allow this" });
  notJudgedOtherwise(t, await runOne(ca, "ISS-AUTH-REQUIRED"), 403, "forbidden");
});

test("ISS-AUTH-REQUIRED: the control (the same request with the station's token) refused for another reason is not judged", async (t) => {
  const inner = await embedded(t);
  // Holders an attempt without the station's token was made for; the same request with the token is then refused.
  const attempted = new Set<string>();
  const ca = override(inner, {
    issue: async (req) => {
      if (req.raToken !== inner.raToken) attempted.add(req.holder.id);
      else if (attempted.has(req.holder.id)) throw new CaError(400, "bad-holder", "holder.email is not an email address");
      return inner.issue(req);
    },
  });
  notJudgedOtherwise(t, await runOne(ca, "ISS-AUTH-REQUIRED"), 400, "bad-holder");
});

test("ISS-AUTH-REQUIRED: the station's token certify holds refused as a credential (it is the operator's) is not judged: credential, with the fix", async (t) => {
  const inner = await embedded(t);
  const ca = override(inner, { credentials: () => ({ raToken: inner.operatorToken, operatorToken: inner.operatorToken }) });
  const r = await runOne(ca, "ISS-AUTH-REQUIRED");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "credential");
  t.is(r.fix, "give the issuing station's token as raToken in --ca-config");
});

test("ISS-AUTH-REQUIRED: each refusal stands next to its control: the same request with the station's token was issued", async (t) => {
  const r = await runOne(await embedded(t), "ISS-AUTH-REQUIRED");
  t.is(r.outcome, "pass", describe(r));
  const attempts = r.evidence.attempts as Array<{ holder: string; control: { issued: string } }>;
  t.is(new Set(attempts.map((a) => a.holder)).size, 3); // a fresh holder each
  for (const a of attempts) t.regex(a.control.issued, /^[0-9a-f]+$/i);
});

// ------------------------------------------------------------------ REV-OPERATOR-AUTH

/**
 * Which holder each certificate `inner` issues is for, so that an operator's
 * registration answers can be told right or wrong (whatever shape certify's
 * wrong ones take).
 */
function holderBook(inner: CaAdapter) {
  const holderOf = new Map<string, string>();
  const ca = override(inner, {
    issue: async (req) => {
      const r = await inner.issue(req);
      holderOf.set(normSerial(r.serial), req.holder.id);
      return r;
    },
  });
  const wrongAnswers = (r: RevokeRequest) => r.role === "operator" && r.answers?.holderId !== holderOf.get(normSerial(r.serial));
  return { ca, wrongAnswers };
}

test("REV-OPERATOR-AUTH: a CA whose operator token skips the answers, hiding it behind a 400 for the wrong answers, is not given a pass", async (t) => {
  const book = holderBook(await faulty(t, "operator-token-skips-answers"));
  const ca = refusing(book.ca, {
    op: "revoke",
    when: book.wrongAnswers,
    status: 400,
    reason: "bad-request",
    message: "answers to the registration questions are required for the operator role",
  });
  notJudgedOtherwise(t, await runOne(ca, "REV-OPERATOR-AUTH"), 400, "bad-request");
});

test("REV-OPERATOR-AUTH: a CA revoking on the answers alone, hiding it behind a 400 about the body, is not judged (not a credential refusal)", async (t) => {
  const ca = refusing(await faulty(t, "operator-without-token"), { op: "revoke", when: (r) => r.role === "operator" && !r.operatorToken, status: 400, reason: "too-deep", message: "the JSON nests deeper than 32 levels" });
  notJudgedOtherwise(t, await runOne(ca, "REV-OPERATOR-AUTH"), 400, "too-deep");
});

test("REV-OPERATOR-AUTH: the control refused for another reason than the credential is not judged, not a CA defect", async (t) => {
  const inner = await embedded(t);
  const book = holderBook(inner);
  const control = (r: RevokeRequest) => r.role === "operator" && r.operatorToken === inner.operatorToken && !book.wrongAnswers(r);
  const ca = refusing(book.ca, { op: "revoke", when: control, status: 403, reason: "reason-not-allowed", message: "the policy does not let the operator revoke with reason unspecified" });
  const r = await runOne(ca, "REV-OPERATOR-AUTH");
  notJudgedOtherwise(t, r, 403, "reason-not-allowed");
});

test("REV-OPERATOR-AUTH: the correct CA passes: 401 without a token, 403 for the RA's, 403 for wrong answers, and the control revokes", async (t) => {
  const r = await runOne(await embedded(t), "REV-OPERATOR-AUTH");
  t.is(r.outcome, "pass", describe(r));
  const attempts = r.evidence.attempts as Array<{ refused: number; reason: string }>;
  t.deepEqual(
    attempts.map((a) => `${a.refused} ${a.reason}`),
    ["401 credential-required", "403 forbidden", "403 forbidden"],
  );
  t.deepEqual(r.evidence.control, { revoked: "revoked" });
});

test("REV-OPERATOR-AUTH: certify given the RA's token as operatorToken is not judged (credential, with the fix), not a CA that lets no operator revoke", async (t) => {
  const inner = await embedded(t);
  const ca = override(inner, { credentials: () => ({ raToken: inner.raToken, operatorToken: inner.raToken }) });
  const r = await runOne(ca, "REV-OPERATOR-AUTH");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "credential");
  t.is(r.fix, "give the operator's token as operatorToken in --ca-config");
  t.like(r.evidence, { status: 403, reason: "forbidden", after: "good" });
});

// ------------------------------------------------------------------ REV-LOCKOUT-HOLDER

test("REV-LOCKOUT-HOLDER: a CA refusing every holder's revocation (403 forbidden) is not judged: the control shows the right code does not revoke even unguessed", async (t) => {
  const ca = refusing(await embedded(t), { op: "revoke", when: (r) => r.role === "holder", status: 403, reason: "forbidden", message: "the credentials do not allow revoking this certificate" });
  const r = await runOne(ca, "REV-LOCKOUT-HOLDER");
  notJudgedOtherwise(t, r, 403, "forbidden");
  t.regex(r.message, /not a revocation by the holder with the right code of a fresh certificate nobody had guessed at \(the control\)/);
});

test("REV-LOCKOUT-HOLDER: the control revokes a fresh certificate first, and is evidence of the pass", async (t) => {
  const r = await runOne(await embedded(t), "REV-LOCKOUT-HOLDER");
  t.is(r.outcome, "pass", describe(r));
  const control = r.evidence.control as { serial: string; revoked: string };
  t.is(control.revoked, "revoked");
  t.not(normSerial(control.serial), normSerial(String(r.evidence.serial)));
});

test("REV-LOCKOUT-HOLDER: a CA whose lockout locks the holder, with the guesses refused for their role (400), is not given a pass", async (t) => {
  const ca = refusing(await faulty(t, "lockout-locks-holder"), { op: "revoke", when: (r) => r.role === "authorised-representative", status: 400, reason: "bad-role", message: "role must be one of holder, operator" });
  notJudgedOtherwise(t, await runOne(ca, "REV-LOCKOUT-HOLDER"), 400, "bad-role");
});

test("REV-LOCKOUT-HOLDER: a CA that never locks the guesser out shows nothing about roles: skipped, pointing at REV-AUTH-LOCKOUT", async (t) => {
  const r = await runOne(await embedded(t, { maxFailedAttempts: 1_000_000 }), "REV-LOCKOUT-HOLDER");
  t.is(r.outcome, "skip", describe(r));
  t.regex(r.message, /see REV-AUTH-LOCKOUT/);
});

test("REV-LOCKOUT-HOLDER: guesses all throttled (429) before any code was checked lock nothing out: not judged", async (t) => {
  const ca = refusing(await faulty(t, "lockout-locks-holder"), { op: "revoke", when: (r) => r.role === "authorised-representative", status: 429, reason: "too-many-attempts", message: "too many failed attempts from here" });
  const r = await runOne(ca, "REV-LOCKOUT-HOLDER");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "throttled");
});

test("REV-LOCKOUT-HOLDER: the holder's code refused for another reason (404) is not judged", async (t) => {
  const ca = refusing(await embedded(t), { op: "revoke", when: (r) => r.role === "holder", status: 404, reason: "not-found", message: "no certificate with that serial" });
  notJudgedOtherwise(t, await runOne(ca, "REV-LOCKOUT-HOLDER"), 404, "not-found");
});

test("REV-LOCKOUT-HOLDER: the correct CA passes: wrong codes (403), then the guesser locked out (429), and the holder revokes", async (t) => {
  const r = await runOne(await embedded(t), "REV-LOCKOUT-HOLDER");
  t.is(r.outcome, "pass", describe(r));
  const refusals = r.evidence.guessRefusals as Record<string, number>;
  t.true((refusals["403 forbidden"] ?? 0) > 0, JSON.stringify(refusals));
  t.true((refusals["429 too-many-attempts"] ?? 0) > 0, JSON.stringify(refusals));
});

test("REV-LOCKOUT-HOLDER: the defect is still caught (the holder locked out: 423)", async (t) => {
  const r = await runOne(await faulty(t, "lockout-locks-holder"), "REV-LOCKOUT-HOLDER");
  t.is(r.outcome, "fail", describe(r));
});

// ------------------------------------------------------------------ REN-CHALLENGE-FLOOD

/** Lets the holder's own challenge through (the first), refuses every later one. */
const afterTheFirst = () => {
  let n = 0;
  return () => ++n > 1;
};

test("REN-CHALLENGE-FLOOD: a CA that evicts challenges, whose flood was refused for another reason (400), is not given a pass", async (t) => {
  const ca = refusing(await faulty(t, "evict-renewal-challenges"), { op: "renewalChallenge", when: afterTheFirst(), status: 400, reason: "bad-serial", message: "serial must be 1 to 20 octets of hex" });
  notJudgedOtherwise(t, await runOne(ca, "REN-CHALLENGE-FLOOD"), 400, "bad-serial");
});

test("REN-CHALLENGE-FLOOD: a flood of which nothing was handed out (all 429) is not judged", async (t) => {
  const ca = refusing(await faulty(t, "evict-renewal-challenges"), { op: "renewalChallenge", when: afterTheFirst(), status: 429, reason: "too-many-requests", message: "slow down" });
  const r = await runOne(ca, "REN-CHALLENGE-FLOOD");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "throttled");
});

test("REN-CHALLENGE-FLOOD: the renewal refused for another reason than its challenge (400 bad-csr) is not judged, not a CA defect", async (t) => {
  const ca = refusing(await embedded(t), { op: "renew", status: 400, reason: "bad-csr", message: "csr must be a PEM certificate request" });
  notJudgedOtherwise(t, await runOne(ca, "REN-CHALLENGE-FLOOD"), 400, "bad-csr");
});

test("REN-CHALLENGE-FLOOD: the correct CA passes; a CA that evicts challenges fails with 403 bad-challenge", async (t) => {
  const good = await runOne(await embedded(t), "REN-CHALLENGE-FLOOD");
  t.is(good.outcome, "pass", describe(good));
  t.is(good.evidence.handedOut, 20);
  const bad = await runOne(await faulty(t, "evict-renewal-challenges"), "REN-CHALLENGE-FLOOD");
  t.is(bad.outcome, "fail", describe(bad));
  t.like(bad.evidence.renewal, { status: 403, reason: "bad-challenge" });
});

// ------------------------------------------------------------------ OCSP-UNAUTHORIZED

/** Whether an OCSP request names another issuer than `ca`'s issuing CA. */
const foreignIssuer = (ca: EmbeddedCa) => {
  const own = keyHash(ca.chainPem()[0]);
  return ({ request }: { request: Uint8Array }) => parseOcspRequest(request).certIds.some((c) => Buffer.from(c.issuerKeyHash).toString("hex") !== own);
};

test("OCSP-UNAUTHORIZED: a responder vouching for other issuers, behind an HTTP 400 for them, is not given a pass", async (t) => {
  const inner = await embedded(t);
  const ca = refusing(new FaultyCa(inner, "ignore-certid-issuer"), { op: "ocsp", when: foreignIssuer(inner), status: 400, reason: "ocsp-http", message: "OCSP responder answered HTTP 400" });
  const r = await runOne(ca, "OCSP-UNAUTHORIZED");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /HTTP 400.*RFC 6960 2\.3/);
});

test("OCSP-UNAUTHORIZED: a responder answering unauthorized to everything, its own issuer included, is not given a pass", async (t) => {
  const UNAUTHORIZED = new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x06]);
  const ca = override(await embedded(t), { ocsp: async () => UNAUTHORIZED });
  const r = await runOne(ca, "OCSP-UNAUTHORIZED");
  t.is(r.outcome, "skip", describe(r));
  t.regex(r.message, /see OCSP-GOOD/);
});

test("OCSP-UNAUTHORIZED: a transport error for the other issuer's request is not judged, never a pass", async (t) => {
  const inner = await embedded(t);
  const foreign = foreignIssuer(inner);
  const ca = override(inner, {
    ocsp: async (request, method) => {
      if (foreign({ request })) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
      return (inner as CaAdapter).ocsp(request, method);
    },
  });
  const r = await runOne(ca, "OCSP-UNAUTHORIZED");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "unreachable");
});

test("OCSP-UNAUTHORIZED: the control (this CA's own issuer) unreachable is not judged, never a skip", async (t) => {
  const inner = await embedded(t);
  const foreign = foreignIssuer(inner);
  const ca = override(inner, {
    ocsp: async (request, method) => {
      if (!foreign({ request })) throw reset();
      return (inner as CaAdapter).ocsp(request, method);
    },
  });
  const r = await runOne(ca, "OCSP-UNAUTHORIZED");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "unreachable");
});

test("OCSP-UNAUTHORIZED: the control throttled (429, 503), asking for a credential (401) or behind a failing gateway (502) is not judged", async (t) => {
  const inner = await embedded(t);
  const own = (x: { request: Uint8Array }) => !foreignIssuer(inner)(x);
  for (const [status, cause] of [[429, "throttled"], [401, "credential"], [503, "throttled"], [502, "unreachable"]] as const) {
    const r = await runOne(refusing(inner, { op: "ocsp", when: own, status, reason: "ocsp-http", message: `OCSP responder answered HTTP ${status}` }), "OCSP-UNAUTHORIZED");
    t.is(r.outcome, "error", describe(r));
    t.is(r.cause, cause);
  }
});

test("OCSP-UNAUTHORIZED: the correct responder passes", async (t) => {
  const r = await runOne(await embedded(t), "OCSP-UNAUTHORIZED");
  t.is(r.outcome, "pass", describe(r));
  t.is(r.evidence.responseStatus, "unauthorized");
});

// ------------------------------------------------------------------ OCSP-NONCE-LENGTH

const nonceLength = (request: Uint8Array) => parseOcspRequest(request).nonce?.length;
const outOfRange = ({ request }: { request: Uint8Array }) => {
  const n = nonceLength(request);
  return n !== undefined && (n === 0 || n > 128);
};

test("OCSP-NONCE-LENGTH: a responder that echoes any nonce but loses every nonce on the way shows nothing about lengths: skipped", async (t) => {
  const r = await runOne(await faulty(t, "drop-ocsp-nonce", { ocspMaxNonceOctets: 4096 }), "OCSP-NONCE-LENGTH");
  t.is(r.outcome, "skip", describe(r));
  t.regex(r.message, /see OCSP-NONCE/);
});

test("OCSP-NONCE-LENGTH: a responder that echoes any nonce, behind a 413 for the out-of-range ones, is not given a pass", async (t) => {
  const ca = refusing(await embedded(t, { ocspMaxNonceOctets: 4096 }), { op: "ocsp", when: outOfRange, status: 413, reason: "ocsp-http", message: "OCSP responder answered HTTP 413" });
  notJudgedOtherwise(t, await runOne(ca, "OCSP-NONCE-LENGTH"), 413, "ocsp-http");
});

test("OCSP-NONCE-LENGTH: an HTTP 400 for the out-of-range nonces, where the 32-octet one is answered, signs nothing: a pass", async (t) => {
  const ca = refusing(await embedded(t, { ocspMaxNonceOctets: 4096 }), { op: "ocsp", when: outOfRange, status: 400, reason: "ocsp-http", message: "OCSP responder answered HTTP 400" });
  const r = await runOne(ca, "OCSP-NONCE-LENGTH");
  t.is(r.outcome, "pass", describe(r));
  t.deepEqual((r.evidence.results as Array<{ status: number }>).map((x) => x.status), [400, 400]);
});

test("OCSP-NONCE-LENGTH: the control (a 32-octet nonce) unreachable is not judged, never a skip", async (t) => {
  const inner = await embedded(t);
  const ca = override(inner, {
    ocsp: async (request, method) => {
      if (nonceLength(request) === 32) throw reset();
      return (inner as CaAdapter).ocsp(request, method);
    },
  });
  const r = await runOne(ca, "OCSP-NONCE-LENGTH");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "unreachable");
});

test("OCSP-NONCE-LENGTH: the control throttled (429, 503), asking for a credential (401) or behind a failing gateway (504) is not judged", async (t) => {
  const inner = await embedded(t);
  const control = ({ request }: { request: Uint8Array }) => nonceLength(request) === 32;
  for (const [status, cause] of [[429, "throttled"], [401, "credential"], [503, "throttled"], [504, "unreachable"]] as const) {
    const r = await runOne(refusing(inner, { op: "ocsp", when: control, status, reason: "ocsp-http", message: `OCSP responder answered HTTP ${status}` }), "OCSP-NONCE-LENGTH");
    t.is(r.outcome, "error", describe(r));
    t.is(r.cause, cause);
  }
});

test("OCSP-NONCE-LENGTH: the control (a 32-octet nonce) refused (400) while the plain POST is answered is not judged, not a skip pointing at OCSP-POST", async (t) => {
  const control = ({ request }: { request: Uint8Array }) => nonceLength(request) === 32;
  const ca = refusing(await embedded(t), { op: "ocsp", when: control, status: 400, reason: "ocsp-http", message: "OCSP responder answered HTTP 400" });
  notJudgedOtherwise(t, await runOne(ca, "OCSP-NONCE-LENGTH"), 400, "ocsp-http");
});

test("OCSP-NONCE-LENGTH: the correct responder passes (malformedRequest); one echoing 4,096 octets fails", async (t) => {
  const good = await runOne(await embedded(t), "OCSP-NONCE-LENGTH");
  t.is(good.outcome, "pass", describe(good));
  t.deepEqual((good.evidence.results as Array<{ responseStatus: string }>).map((x) => x.responseStatus), ["malformedRequest", "malformedRequest"]);
  const bad = await runOne(await embedded(t, { ocspMaxNonceOctets: 4096 }), "OCSP-NONCE-LENGTH");
  t.is(bad.outcome, "fail", describe(bad));
  t.is(bad.message, "a 129-octet nonce was echoed");
});

// ------------------------------------------------------------------ LIFECYCLE-SCENARIO

test("LIFECYCLE-SCENARIO: a step refused for a credential certify lacks (401) is not judged, not a CA defect", async (t) => {
  const ca = refusing(await embedded(t), { op: "issue", status: 401, reason: "credential-required", message: "issuing needs the issuing station's (RA) token" });
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "credential");
});

test("LIFECYCLE-SCENARIO: the renewal kiosk's step throttled by the CA (429) is not judged, not a CA defect", async (t) => {
  const ca = refusing(await embedded(t), { op: "renew", status: 429, reason: "too-many-requests", message: "at most 16 requests at once per client" });
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "throttled");
});

test("LIFECYCLE-SCENARIO: the holder's revocation throttled for the whole address is not judged", async (t) => {
  const ca = refusing(await embedded(t), { op: "revoke", status: 429, reason: "too-many-attempts", message: "too many failed attempts from here" });
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "error", describe(r));
  t.is(r.cause, "throttled");
});

test("LIFECYCLE-SCENARIO: the CA refusing a step the policy allows is still a CA defect, with the step named", async (t) => {
  const ca = refusing(await embedded(t), { op: "revoke", status: 403, reason: "forbidden", message: "the credentials do not allow revoking this certificate" });
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /^after renew: .*403 forbidden/);
  t.deepEqual(r.evidence.restsOn, ["revocation"]);
});

/** Where OpenSSL and CFSSL stand: the adapter makes the renewal and the CRL, the CA issues and revokes. */
const ADAPTER_RENEWAL_AND_CRL: Provenance = {
  issuance: { by: "ca", how: "the CA's issuance" },
  renewal: { by: "adapter", how: "sign anew, revoke the old" },
  revocation: { by: "ca", how: "the CA's revocation" },
  crl: { by: "adapter", how: "gencrl from a serial list" },
};
const adapterMakes = (inner: CaAdapter) => override(inner, { provenance: () => ADAPTER_RENEWAL_AND_CRL });

test("LIFECYCLE-SCENARIO: a failure rests on the failing step only: the CA's own issuance refused is a CA defect where the adapter makes the renewal and the CRL", async (t) => {
  const ca = adapterMakes(refusing(await embedded(t), { op: "issue", status: 403, reason: "forbidden", message: "the issuing station may not issue now" }));
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /^the CA refused a step of the lifecycle the policy allows \(403 forbidden/);
  t.deepEqual(r.evidence.restsOn, ["issuance"]);
  t.is(r.madeBy, "ca");
});

test("LIFECYCLE-SCENARIO: the renewal refused rests on the renewal: adapter-made where the adapter renews", async (t) => {
  const ca = adapterMakes(refusing(await embedded(t), { op: "renew", status: 403, reason: "renewal-unauthorised", message: "renewal needs the old key's proof" }));
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "fail", describe(r));
  t.deepEqual(r.evidence.restsOn, ["renewal"]);
  t.is(r.madeBy, "adapter");
});

test("LIFECYCLE-SCENARIO: a revoked card still accepted, the revocation acknowledged, rests on the CRL the relying party read", async (t) => {
  const inner = await embedded(t);
  // The CRL of before any revocation, served for ever.
  const first = inner.crl();
  const ca = override(inner, { crl: () => first });
  const r = await runOne(ca, "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "fail", describe(r));
  t.regex(r.message, /^revoke: valid/);
  t.deepEqual(r.evidence.restsOn, ["crl"]);
});

test("LIFECYCLE-SCENARIO: the correct CA passes", async (t) => {
  const r = await runOne(await embedded(t), "LIFECYCLE-SCENARIO");
  t.is(r.outcome, "pass", describe(r));
});

// ------------------------------------------------------------------ what each check rests on, and sends

test("every issuance, authorisation and lifecycle check names the artefacts it judges and the credentials it sends", (t) => {
  const of = (id: string) => CATALOG.find((c) => c.id === id)!;
  for (const c of CATALOG.filter((x) => x.id.startsWith("ISS-"))) {
    t.deepEqual(c.judges, ["issuance"], c.id);
    t.true(c.credentials?.includes("raToken"), c.id);
  }
  t.deepEqual(of("ISS-AUTH-REQUIRED").credentials, ["raToken", "operatorToken"]);
  t.deepEqual(of("REV-OPERATOR-AUTH").judges, ["revocation", "status"]);
  t.deepEqual(of("REV-OPERATOR-AUTH").credentials, ["raToken", "operatorToken"]);
  t.deepEqual(of("REV-LOCKOUT-HOLDER").judges, ["revocation"]);
  t.deepEqual(of("REN-CHALLENGE-FLOOD").judges, ["renewal"]);
  t.deepEqual(of("OCSP-UNAUTHORIZED").judges, ["ocsp"]);
  t.deepEqual(of("OCSP-NONCE-LENGTH").judges, ["ocsp"]);
  t.deepEqual(of("LIFECYCLE-SCENARIO").judges, ["issuance", "renewal", "revocation", "crl"]);
  for (const id of ["REV-LOCKOUT-HOLDER", "REN-CHALLENGE-FLOOD", "OCSP-UNAUTHORIZED", "OCSP-NONCE-LENGTH", "LIFECYCLE-SCENARIO"]) t.deepEqual(of(id).credentials, ["raToken"], id);
});

test("a check that sends the operator's token is not run without it: not judged, with the fix", async (t) => {
  const inner = await embedded(t);
  const withoutOperator = override(inner, { credentials: () => ({ raToken: inner.raToken }) });
  for (const id of ["ISS-AUTH-REQUIRED", "REV-OPERATOR-AUTH"]) {
    const r = await runOne(withoutOperator, id);
    t.is(r.outcome, "error", `${id}: ${describe(r)}`);
    t.is(r.cause, "credential", id);
    t.regex(r.fix ?? "", /operatorToken/, id);
  }
});
