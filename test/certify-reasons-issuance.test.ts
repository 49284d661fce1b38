import test, { type ExecutionContext } from "ava";
import { createPublicKey } from "node:crypto";
import { EventBus, SystemClock } from "../core/index.js";
import { CertificationRequest, parseOcspRequest, pemToDer } from "../pki/index.js";
import { type CaAdapter, type EmbeddedCa, type IssueRequest, type RevokeRequest } from "../simulator/ca/index.js";
import { createEmbeddedAdapter, type EmbeddedAdapterOptions } from "../conformance/adapters/embedded.js";
import { FaultyCa, type Fault } from "../conformance/adapters/faulty.js";
import { RefusingCa, type RefusableOps, type Refusal } from "../conformance/adapters/refusing.js";
import { runCatalog, type CheckResult } from "../conformance/runner.js";
import { CATALOG, type CertifyOptions } from "../conformance/checks/index.js";
import { keyHash } from "../conformance/pkix.js";

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

// ------------------------------------------------------------------ REV-OPERATOR-AUTH

const wrongAnswers = (r: RevokeRequest) => r.role === "operator" && /-wrong-\d+$/.test(String(r.answers?.holderId));

test("REV-OPERATOR-AUTH: a CA whose operator token skips the answers, hiding it behind a 400 for the wrong answers, is not given a pass", async (t) => {
  const ca = refusing(await faulty(t, "operator-token-skips-answers"), {
    op: "revoke",
    when: wrongAnswers,
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
  const control = (r: RevokeRequest) => r.role === "operator" && r.operatorToken === inner.operatorToken && !wrongAnswers(r);
  const ca = refusing(inner, { op: "revoke", when: control, status: 403, reason: "reason-not-allowed", message: "the policy does not let the operator revoke with reason unspecified" });
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

// ------------------------------------------------------------------ REV-LOCKOUT-HOLDER

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
