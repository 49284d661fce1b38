import test from "ava";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { EventBus, SystemClock } from "../core/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { FaultyCa } from "../conformance/adapters/faulty.js";
import { RefusingCa, type Refusal } from "../conformance/adapters/refusing.js";
import { runCatalog, type CheckResult } from "../conformance/runner.js";
import { CATALOG, type CertifyOptions } from "../conformance/checks/index.js";
import { OcspTransportError } from "../conformance/adapters/loopback-http.js";
import { buildOcspRequest, normSerial, ocspRequestSerials, parseOcspResponse } from "../conformance/pkix.js";
import { buildCrl, buildOcspResponse, Crl, encodePem, errorResponse, OcspStatus, parseOcspRequest, softwareSigningKey, type CertStatusSpec } from "../pki/index.js";
import type { EmbeddedCa } from "../simulator/ca/index.js";
import { CaError, type CaAdapter, type RevokeRequest } from "../simulator/ca/api.js";

/**
 * Each CRL, OCSP and propagation check passes only for its own reason: a CA
 * that does the wrong thing the check is about, hidden behind something else
 * (a refusal for another reason, a CRL another key signed, an answer for
 * another issuer's CertID, a status that says nothing about the certificate),
 * is not given a pass. Every CA here is the embedded one, wrapped.
 */
const clock = new SystemClock();
/** One revocation, a short horizon: a CA that never shows one costs 1.5 s. */
const FAST: Partial<CertifyOptions> = { samples: 1, propagationThresholdMs: 1_000, propagationHorizonMs: 1_500 };

const ALL_IDS = ["PROP-CRL", "PROP-OCSP", "CRL-SIGNATURE", "CRL-NUMBER", "CRL-AKI", "CRL-TIMES", "CRL-NUMBER-INCREASING", "CRL-ENTRY-REASON", "CRL-ENTRY-DATE", "OCSP-POST", "OCSP-GET", "OCSP-GOOD", "OCSP-REVOKED", "OCSP-UNKNOWN", "OCSP-SIGNATURE", "OCSP-RESPONDER-AUTHORISED", "OCSP-NONCE", "OCSP-TIMES", "OCSP-MALFORMED"];

async function run(ca: CaAdapter, only: string[], options = FAST): Promise<Record<string, CheckResult>> {
  const r = await runCatalog(ca, { bus: new EventBus(clock), clock, only, options });
  return Object.fromEntries(r.results.map((x) => [x.id, x]));
}

async function one(ca: CaAdapter, id: string, options = FAST): Promise<CheckResult> {
  return (await run(ca, [id], options))[id];
}

async function embedded(t: { teardown: (f: () => Promise<void>) => void }): Promise<EmbeddedCa> {
  const ca = await createEmbeddedAdapter();
  t.teardown(() => ca.close());
  return ca;
}

/** `inner` with some methods replaced (the rest are the inner CA's own). */
function wrap(inner: CaAdapter, over: Partial<CaAdapter>): CaAdapter {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop in over) return (over as Record<string | symbol, unknown>)[prop];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as CaAdapter;
}

// ------------------------------------------------------------------ CRLs

const rogueKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rogue = softwareSigningKey(rogueKey.privateKey, rogueKey.publicKey);

interface CrlDoctoring {
  /** Sign with a key that is not the issuing CA's (under the issuing CA's name). */
  rogue?: boolean;
  stripReasons?: boolean;
  /** Every entry dated 5 s after its revocation. */
  shiftDates?: boolean;
  /** Expired yesterday. */
  stale?: boolean;
  /** The CRL number, from the real one and the how-many-th fetch. */
  number?: (real: bigint, fetch: number) => bigint;
}

/** The embedded CA's CRL, doctored and signed again (by the issuing key, or a rogue one). */
function doctoredCrls(inner: EmbeddedCa, d: CrlDoctoring): () => Promise<Uint8Array> {
  let fetches = 0;
  return async () => {
    const crl = new Crl(await inner.crl());
    const issuing = inner.hierarchy.issuing;
    const entries: Array<[string, number, number | null]> = [...crl.entries()].map((e) => [e.serial, d.shiftDates ? e.revocationDate + 5_000 : e.revocationDate, d.stripReasons ? null : (e.reasonCode ?? null)]);
    const [thisUpdate, nextUpdate] = d.stale ? [clock.nowMs() - 2 * 86_400_000, clock.nowMs() - 86_400_000] : [crl.thisUpdate, crl.nextUpdate!];
    return buildCrl({
      issuerName: issuing.name,
      issuerKeyId: d.rogue ? randomBytes(20) : issuing.keyId,
      signer: d.rogue ? rogue : issuing.signer,
      crlNumber: d.number ? d.number(crl.crlNumber!, ++fetches) : crl.crlNumber!,
      thisUpdate,
      nextUpdate,
      entries,
    });
  };
}

const withCrl = (inner: EmbeddedCa, d: CrlDoctoring) => wrap(inner, { crl: doctoredCrls(inner, d) });

/** The holder's revocation refused for a reason that has nothing to do with CRLs or OCSP. */
const REVOCATION_REFUSED: Refusal<"revoke"> = { op: "revoke", when: (q: RevokeRequest) => q.role === "holder", status: 400, reason: "answers-required", message: "answers to the registration questions are required" };
const refusingRevocation = (inner: CaAdapter) => new RefusingCa(inner, [REVOCATION_REFUSED as Refusal]);

test("correct embedded CA: every CRL, OCSP and propagation check passes, each says what it judges and sends", async (t) => {
  const ca = await embedded(t);
  const r = await run(ca, ALL_IDS);
  for (const id of ALL_IDS) t.is(r[id].outcome, "pass", `${id}: ${r[id].message}`);
  for (const id of ALL_IDS) {
    const check = CATALOG.find((c) => c.id === id)!;
    t.deepEqual(check.credentials, ["raToken"], id);
    const judges = check.judges ?? [];
    t.true(judges.includes(id.startsWith("CRL") || id === "PROP-CRL" ? "crl" : "ocsp"), id);
  }
  // propagation rests on when the CA publishes (an adapter's CRL job makes it adapter-made) and on the CRL itself
  t.deepEqual(CATALOG.find((c) => c.id === "PROP-CRL")!.judges, ["crl-publication", "crl"]);
  t.deepEqual(CATALOG.find((c) => c.id === "PROP-OCSP")!.judges, ["ocsp-publication", "ocsp"]);
  // evidence a user can paste into openssl
  t.regex(String(r["CRL-SIGNATURE"].evidence.crl), /^-----BEGIN X509 CRL-----\n/);
  t.regex(String(r["CRL-SIGNATURE"].evidence.issuerCertificate), /^-----BEGIN CERTIFICATE-----\n/);
  t.regex(String(r["CRL-ENTRY-REASON"].evidence.crl), /^-----BEGIN X509 CRL-----\n/);
  t.regex(String(r["OCSP-GOOD"].evidence.howToRead), /openssl ocsp -respin resp\.der -resp_text -noverify/);
  t.regex(String(r["OCSP-GOOD"].evidence.certificate), /^-----BEGIN CERTIFICATE-----\n/);
  t.is(parseOcspResponse(Buffer.from(String(r["OCSP-GOOD"].evidence.response), "base64")).responseStatusName, "successful");
});

test("CRL-SIGNATURE: a CRL under the issuing CA's name signed by another key fails; a throttled CRL fetch is not judged", async (t) => {
  const inner = await embedded(t);
  const r = await one(withCrl(inner, { rogue: true }), "CRL-SIGNATURE");
  t.is(r.outcome, "fail");
  t.regex(r.message, /does not verify with the issuing CA's key/);
  t.regex(String(r.evidence.crl), /^-----BEGIN X509 CRL-----\n/);
  const throttledCrl = wrap(inner, {
    crl: async () => {
      throw new CaError(429, "throttled", "too many requests");
    },
  });
  const x = await one(throttledCrl, "CRL-SIGNATURE");
  t.is(x.outcome, "error");
  t.is(x.cause, "throttled");
});

for (const [id, doctoring, what] of [
  ["CRL-NUMBER", { rogue: true }, "a CRL another key signed (its number is nobody's)"],
  ["CRL-AKI", { rogue: true }, "a CRL another key signed, with another key identifier"],
  ["CRL-TIMES", { rogue: true, stale: true }, "a stale CRL another key signed"],
  ["CRL-NUMBER-INCREASING", { rogue: true, number: (real: bigint, fetch: number) => real + 1000n - BigInt(fetch) }, "decreasing numbers on CRLs another key signed"],
  ["CRL-ENTRY-REASON", { rogue: true, stripReasons: true }, "entries without reasons on a CRL another key signed"],
  ["CRL-ENTRY-DATE", { rogue: true, shiftDates: true }, "wrong entry dates on CRLs another key signed"],
  ["PROP-CRL", { rogue: true }, "the revocation listed on a CRL another key signed"],
] as Array<[string, CrlDoctoring, string]>) {
  test(`${id}: ${what} is not judged as the CA's CRL: skip, see CRL-SIGNATURE`, async (t) => {
    const inner = await embedded(t);
    const r = await one(withCrl(inner, doctoring), id);
    t.is(r.outcome, "skip", r.message);
    t.regex(r.message, /see CRL-SIGNATURE/);
    // and the same doctoring signed by the issuing CA: judged (the defect is caught, or the CRL is fine)
    const inner2 = await embedded(t);
    const honest = await one(withCrl(inner2, { ...doctoring, rogue: false }), id);
    const defect = doctoring.stale || doctoring.number || doctoring.stripReasons || doctoring.shiftDates;
    t.is(honest.outcome, defect ? "fail" : "pass", honest.message);
  });
}

for (const id of ["CRL-ENTRY-REASON", "CRL-ENTRY-DATE", "PROP-CRL", "PROP-OCSP", "OCSP-REVOKED"]) {
  test(`${id}: a CA that would get it wrong, refusing the watched revocation for another reason, is not judged`, async (t) => {
    const inner = await embedded(t);
    // the wrong thing: entries without reasons and with wrong dates on a CRL the issuing CA signs; revoked without a reason over OCSP
    const wrong = wrap(inner, {
      crl: doctoredCrls(inner, { stripReasons: true, shiftDates: true }),
      ocsp: answering(inner, { status: { kind: "revoked", at: 0, reason: null } }),
    });
    const r = await one(refusingRevocation(wrong), id);
    t.is(r.outcome, "error", r.message);
    t.is(r.cause, "refused-otherwise");
    t.regex(r.message, /the CA refused with 400 answers-required/);
    t.regex(r.message, /which certify revokes to watch the CRL and OCSP/);
    t.is(r.evidence.reason, "answers-required");
  });
}

// ------------------------------------------------------------------ OCSP

const pemOf = (der: Uint8Array) => encodePem(der, "CERTIFICATE");

interface Answering {
  /** Answer with the CertID of another issuer (the root) for the serial asked. */
  otherIssuer?: boolean;
  /** thisUpdate two hours ago, nextUpdate one hour ago. */
  stale?: boolean;
  /** Replace the status the embedded CA gives. */
  status?: CertStatusSpec;
  /** A revoked serial's revocationTime instead of the CA's (undefined: the CA's). */
  revokedAt?: (serial: string) => number | undefined;
}

/**
 * A responder signing its own answers with the embedded CA's responder key:
 * the status the embedded CA gives each serial, re-answered as `a` says.
 * A request that does not parse goes to the embedded CA as it is.
 */
function answering(inner: EmbeddedCa, a: Answering) {
  const issuingPem = pemOf(inner.hierarchy.issuing.certificate);
  const rootPem = pemOf(inner.hierarchy.root.certificate);
  return async (request: Uint8Array): Promise<Uint8Array> => {
    let req;
    try {
      req = parseOcspRequest(request);
    } catch {
      return inner.ocsp(request);
    }
    const now = clock.nowMs();
    const responses = await Promise.all(
      req.certIds.map(async (c) => {
        const real = parseOcspResponse(await inner.ocsp(buildOcspRequest(issuingPem, [c.serialHex]))).responses[0];
        const status: CertStatusSpec =
          a.status ??
          (real.status === "revoked" ? { kind: "revoked", at: a.revokedAt?.(c.serialHex) ?? real.revokedAt!.getTime(), reason: real.reason ?? null } : { kind: real.status });
        const certId = a.otherIssuer ? parseOcspRequest(buildOcspRequest(rootPem, [c.serialHex])).certIds[0].der : c.der;
        const thisUpdate = Math.floor((a.stale ? now - 7_200_000 : now) / 1000) * 1000;
        return { certId, status, thisUpdate, nextUpdate: thisUpdate + 3_600_000 };
      }),
    );
    return buildOcspResponse(inner.hierarchy.responder, now, responses, req.nonceExtension);
  };
}

const withOcsp = (inner: CaAdapter, ocsp: (request: Uint8Array) => Promise<Uint8Array>) => wrap(inner, { ocsp });
const always = (status: number) => async () => errorResponse(status);
const transportError = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
const throttledOcsp = (method?: "POST" | "GET"): Refusal<"ocsp"> => ({ op: "ocsp", when: (q) => !method || q.method === method, status: 429, reason: "throttled", message: "too many requests" });

test("OCSP-POST: an answer for another issuer's CertID fails; a throttled or unreachable responder is not judged; a refused POST fails, with what was sent", async (t) => {
  const inner = await embedded(t);
  const other = await one(withOcsp(inner, answering(inner, { otherIssuer: true })), "OCSP-POST");
  t.is(other.outcome, "fail");
  t.regex(other.message, /names another issuer/);
  const throttled = await one(new RefusingCa(inner, [throttledOcsp()]), "OCSP-POST");
  t.is(throttled.outcome, "error");
  t.is(throttled.cause, "throttled");
  const down = await one(
    withOcsp(inner, async () => {
      throw transportError();
    }),
    "OCSP-POST",
  );
  t.is(down.outcome, "error");
  t.is(down.cause, "unreachable");
  const refused = await one(new FaultyCa(inner, "broken-ocsp-post"), "OCSP-POST");
  t.is(refused.outcome, "fail");
  t.like(refused.evidence, { method: "POST", status: 415 });
  t.regex(String(refused.evidence.request), /^[A-Za-z0-9+/]+=*$/);
});

test("OCSP-POST, OCSP-GOOD: a 503 (the CA cannot serve now), 502 or 504 (a gateway) from the responder is not judged, never a fail nor a skip", async (t) => {
  const inner = await embedded(t);
  for (const [status, cause] of [[503, "throttled"], [502, "unreachable"], [504, "unreachable"]] as const) {
    const r = await run(new RefusingCa(inner, [{ op: "ocsp", status, reason: "ocsp-http", message: `OCSP POST answered HTTP ${status}` }]), ["OCSP-POST", "OCSP-GOOD"]);
    for (const id of ["OCSP-POST", "OCSP-GOOD"]) {
      t.is(r[id].outcome, "error", `${status} ${id}: ${r[id].message}`);
      t.is(r[id].cause, cause, `${status} ${id}`);
    }
  }
});

test("OCSP-POST: a bug in cardloop under the exchange (a TypeError) is not judged (harness), not called an unreachable responder", async (t) => {
  const inner = await embedded(t);
  const buggy = withOcsp(inner, async () => {
    throw new TypeError("cannot read properties of undefined (reading 'der')");
  });
  const r = await one(buggy, "OCSP-POST");
  t.is(r.outcome, "error", r.message);
  t.is(r.cause, "harness");
});

test("OCSP-GET: a broken GET fails with the method, the request, the GET path, the error and the serial; a throttled GET is not judged", async (t) => {
  const inner = await embedded(t);
  const broken = await one(new FaultyCa(inner, "broken-ocsp-get"), "OCSP-GET");
  t.is(broken.outcome, "fail");
  const ev = broken.evidence;
  t.is(ev.method, "GET");
  const request = String(ev.request);
  t.is(ev.getPath, `/${encodeURIComponent(request)}`);
  t.deepEqual(parseOcspRequest(Buffer.from(request, "base64")).certIds.map((c) => normSerial(c.serialHex)), [ev.serial]);
  t.is(ev.status, 404);
  t.regex(String(ev.caMessage), /404/);
  t.regex(String(ev.certificate), /^-----BEGIN CERTIFICATE-----\n/);
  t.regex(broken.message, /^GET failed: /);
  const throttled = await one(new RefusingCa(new FaultyCa(inner, "broken-ocsp-get"), [throttledOcsp("GET")]), "OCSP-GET");
  t.is(throttled.outcome, "error");
  t.is(throttled.cause, "throttled");
});

test("OCSP-GOOD: good for the serial under another issuer's CertID fails; tryLater is not judged", async (t) => {
  const inner = await embedded(t);
  const other = await one(withOcsp(inner, answering(inner, { otherIssuer: true })), "OCSP-GOOD");
  t.is(other.outcome, "fail");
  t.regex(other.message, /names another issuer/);
  const later = await one(withOcsp(inner, always(OcspStatus.tryLater)), "OCSP-GOOD");
  t.is(later.outcome, "error");
  t.is(later.cause, "throttled");
});

test("OCSP-REVOKED: revoked said under another issuer's CertID is not the revocation reported: skip, see OCSP-GOOD (which fails on it)", async (t) => {
  const inner = await embedded(t);
  // the wrong thing too: no reason on the revoked answer
  const ca = withOcsp(inner, answering(inner, { otherIssuer: true, status: { kind: "revoked", at: clock.nowMs(), reason: null } }));
  const r = await run(ca, ["OCSP-REVOKED", "OCSP-GOOD"]);
  t.is(r["OCSP-REVOKED"].outcome, "skip", r["OCSP-REVOKED"].message);
  // the check pointed at fails on that very thing (PROP-OCSP would only skip)
  t.regex(r["OCSP-REVOKED"].message, /see OCSP-GOOD$/);
  t.is(r["OCSP-GOOD"].outcome, "fail", r["OCSP-GOOD"].message);
});

test("OCSP-UNKNOWN: unknown under another issuer's CertID fails, as does an extended revoked without its extension; tryLater is not judged", async (t) => {
  const inner = await embedded(t);
  const other = await one(withOcsp(inner, answering(inner, { otherIssuer: true })), "OCSP-UNKNOWN");
  t.is(other.outcome, "fail");
  t.regex(other.message, /names another issuer/);
  const extended = await one(withOcsp(inner, answering(inner, { status: { kind: "revoked", at: 0, reason: 6 } })), "OCSP-UNKNOWN");
  t.is(extended.outcome, "fail");
  t.regex(extended.message, /without the extended revoked definition extension/);
  const later = await one(withOcsp(inner, always(OcspStatus.tryLater)), "OCSP-UNKNOWN");
  t.is(later.outcome, "error");
  t.is(later.cause, "throttled");
});

for (const id of ["OCSP-SIGNATURE", "OCSP-RESPONDER-AUTHORISED", "OCSP-TIMES"]) {
  test(`${id}: an unsigned unauthorized answer, or one for another issuer's CertID, is OCSP-GOOD's to fail: skip`, async (t) => {
    const inner = await embedded(t);
    const unauthorized = await one(withOcsp(inner, always(OcspStatus.unauthorized)), id);
    t.is(unauthorized.outcome, "skip", unauthorized.message);
    t.regex(unauthorized.message, /see OCSP-GOOD/);
    // stale too, which OCSP-TIMES would fail on were it this CA's answer
    const other = await one(withOcsp(inner, answering(inner, { otherIssuer: true, stale: true })), id);
    t.is(other.outcome, "skip", other.message);
    t.regex(other.message, /see OCSP-GOOD/);
  });
}

test("OCSP-NONCE: no nonce in a response that is not an answer is not judged as the nonce's fault; a nonce that alone is refused fails", async (t) => {
  const inner = await embedded(t);
  const later = await one(withOcsp(inner, always(OcspStatus.tryLater)), "OCSP-NONCE");
  t.is(later.outcome, "error");
  t.is(later.cause, "throttled");
  const unauthorized = await one(withOcsp(inner, always(OcspStatus.unauthorized)), "OCSP-NONCE");
  t.is(unauthorized.outcome, "skip");
  t.regex(unauthorized.message, /see OCSP-GOOD/);
  const nonceRefused = withOcsp(inner, async (request) => (parseOcspRequest(request).nonce ? errorResponse(OcspStatus.malformedRequest) : inner.ocsp(request)));
  const refused = await one(nonceRefused, "OCSP-NONCE");
  t.is(refused.outcome, "fail");
  t.regex(refused.message, /^responseStatus malformedRequest for a request with a 16-octet nonce/);
});

test("OCSP-MALFORMED: passes only on a malformedRequest response; an HTTP refusal fails, throttling and an unreachable responder are not judged", async (t) => {
  const inner = await embedded(t);
  t.is((await one(inner, "OCSP-MALFORMED")).outcome, "pass");
  const http400 = await one(new RefusingCa(inner, [{ op: "ocsp", status: 400, reason: "ocsp-http", message: "OCSP POST answered HTTP 400, empty body" }]), "OCSP-MALFORMED");
  t.is(http400.outcome, "fail");
  t.regex(http400.message, /^no OCSPResponse, .*RFC 6960 2\.3 wants a malformedRequest response$/);
  t.is(http400.evidence.status, 400);
  const throttled = await one(new RefusingCa(inner, [throttledOcsp()]), "OCSP-MALFORMED");
  t.is(throttled.outcome, "error");
  t.is(throttled.cause, "throttled");
  const other = await one(withOcsp(inner, always(OcspStatus.internalError)), "OCSP-MALFORMED");
  t.is(other.outcome, "fail");
  t.regex(other.message, /^responseStatus internalError/);
  // a connection dropped on the malformed request only: the responder's doing
  const dropping = withOcsp(inner, async (request) => {
    try {
      parseOcspRequest(request);
    } catch {
      throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    }
    return inner.ocsp(request);
  });
  const dropped = await one(dropping, "OCSP-MALFORMED");
  t.is(dropped.outcome, "fail");
  t.regex(dropped.message, /dropped the connection on a malformed request/);
  // nothing answers at all: nothing learnt
  const down = await one(
    withOcsp(inner, async () => {
      throw transportError();
    }),
    "OCSP-MALFORMED",
  );
  t.is(down.outcome, "error");
  t.is(down.cause, "unreachable");
});

test("PROP-OCSP: revoked said under another issuer's CertID does not count as shown; the responder never answering for it is OCSP-GOOD's: skip", async (t) => {
  const inner = await embedded(t);
  const r = await one(withOcsp(inner, answering(inner, { otherIssuer: true })), "PROP-OCSP");
  t.is(r.outcome, "skip", r.message);
  t.regex(r.message, /names another issuer|without a SingleResponse for this CertID/);
  t.regex(r.message, /see OCSP-GOOD$/);
});

// ------------------------------------------------------------------ revocation times

/**
 * Midnight (UTC) of the day: a CA recording revocations to the day. Within
 * five minutes after midnight, the midnight before, so that the time stays
 * hours from the request whatever the hour the test runs at.
 */
function midnight(): number {
  const day = 86_400_000;
  const now = clock.nowMs();
  return Math.floor(now / day) * day - (now % day < 300_000 ? day : 0);
}

/** A CA that records (and says it records) each revocation at midnight: in its answer, on its CRL and over OCSP. */
function revokingAtMidnight(inner: EmbeddedCa): CaAdapter {
  const at = new Map<string, number>();
  const issuing = inner.hierarchy.issuing;
  return wrap(inner, {
    async revoke(req: RevokeRequest) {
      const r = await inner.revoke(req);
      at.set(normSerial(r.serial), midnight());
      return { ...r, revokedAt: new Date(at.get(normSerial(r.serial))!) };
    },
    async crl() {
      const crl = new Crl(await inner.crl());
      const entries: Array<[string, number, number | null]> = [...crl.entries()].map((e) => [e.serial, at.get(normSerial(e.serial)) ?? e.revocationDate, e.reasonCode ?? null]);
      return buildCrl({ issuerName: issuing.name, issuerKeyId: issuing.keyId, signer: issuing.signer, crlNumber: crl.crlNumber!, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate!, entries });
    },
    ocsp: answering(inner, { revokedAt: (serial) => at.get(normSerial(serial)) }),
  });
}

test("CRL-ENTRY-DATE and OCSP-REVOKED: a revocation recorded at midnight and acknowledged so fails: the time must fall within the request", async (t) => {
  const inner = await embedded(t);
  const r = await run(revokingAtMidnight(inner), ["CRL-ENTRY-DATE", "OCSP-REVOKED"]);
  for (const id of ["CRL-ENTRY-DATE", "OCSP-REVOKED"]) {
    t.is(r[id].outcome, "fail", `${id}: ${r[id].message}`);
    t.regex(r[id].message, /is not when the revocation happened: certify asked at .* and the CA acknowledged at /, id);
    t.is(new Date(r[id].evidence.acknowledgedRevokedAt as string | Date).getTime(), midnight(), id); // the CA's own claim agreed
    t.is(r[id].evidence.clockSkewMs, 60_000, id);
    t.true(new Date(r[id].evidence.requestedAt as string | Date) <= new Date(r[id].evidence.acknowledgedAt as string | Date), id);
  }
  t.is(new Date(r["CRL-ENTRY-DATE"].evidence.crlRevocationDate as string | Date).getTime(), midnight());
});

// ------------------------------------------------------------------ CRL numbers

test("CRL-NUMBER-INCREASING: one CRL signed anew (ECDSA) on each fetch is one CRL, not a new one with the same number", async (t) => {
  const inner = await embedded(t);
  const fetch = doctoredCrls(inner, {});
  // what the wrapper does: the same TBSCertList, a new signature each time
  const [a, b] = [new Crl(await fetch()), new Crl(await fetch())];
  t.deepEqual(Buffer.from(a.tbs), Buffer.from(b.tbs));
  t.notDeepEqual(Buffer.from(a.signature), Buffer.from(b.signature));
  const r = await one(wrap(inner, { crl: fetch }), "CRL-NUMBER-INCREASING");
  t.is(r.outcome, "pass", r.message);
  const seq = r.evidence.sequence as Array<{ crlNumber: string }>;
  t.true(seq.length >= 2);
  t.is(new Set(seq.map((c) => c.crlNumber)).size, seq.length);
});

// ------------------------------------------------------------------ looks that tell nothing

test("CRL-ENTRY-*, CRL-NUMBER-INCREASING: a CRL fetch always reset is not judged (unreachable), not skipped", async (t) => {
  const inner = await embedded(t);
  const reset = wrap(inner, {
    crl: async () => {
      throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    },
  });
  const ids = ["CRL-ENTRY-REASON", "CRL-ENTRY-DATE", "CRL-NUMBER-INCREASING"];
  const r = await run(reset, ids);
  for (const id of ids) {
    t.is(r[id].outcome, "error", `${id}: ${r[id].message}`);
    t.is(r[id].cause, "unreachable", id);
  }
  t.regex(r["CRL-ENTRY-REASON"].message, /^certify could not see whether the revocation reached the CRL/);
});

test("OCSP-REVOKED: a responder throttling (429) every poll of the watched revocation is not judged, not skipped", async (t) => {
  const inner = await embedded(t);
  const revoked = new Set<string>();
  const ca = new RefusingCa(
    wrap(inner, {
      async revoke(req: RevokeRequest) {
        const r = await inner.revoke(req);
        revoked.add(normSerial(r.serial));
        return r;
      },
    }),
    [{ ...throttledOcsp(), when: (q: { request: Uint8Array }) => revoked.has(ocspRequestSerials(q.request)[0]) }],
  );
  const r = await one(ca, "OCSP-REVOKED");
  t.is(r.outcome, "error", r.message);
  t.is(r.cause, "throttled");
  t.true((r.evidence.notJudgedPolls as number) > 0);
});

test("OCSP over POST refused only for requests with a nonce, while OCSP-POST passes: OCSP-NONCE is not judged, not skipped; a POST refused always still skips", async (t) => {
  const inner = await embedded(t);
  const withNonce = (q: unknown) => parseOcspRequest((q as { request: Uint8Array }).request).nonce !== undefined;
  const refusing = new RefusingCa(inner, [{ op: "ocsp", when: withNonce, status: 400, reason: "bad-request", message: "request rejected by the front end" }]);
  const r = await run(refusing, ["OCSP-POST", "OCSP-NONCE"]);
  t.is(r["OCSP-POST"].outcome, "pass", r["OCSP-POST"].message);
  t.is(r["OCSP-NONCE"].outcome, "error", r["OCSP-NONCE"].message);
  t.is(r["OCSP-NONCE"].cause, "refused-otherwise");
  // no answer at all for those: unreachable
  const dropping = withOcsp(inner, async (request) => {
    if (parseOcspRequest(request).nonce !== undefined) throw new OcspTransportError("OCSP POST http://127.0.0.1:9/ocsp", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    return inner.ocsp(request);
  });
  const d = await run(dropping, ["OCSP-POST", "OCSP-NONCE"]);
  t.is(d["OCSP-POST"].outcome, "pass", d["OCSP-POST"].message);
  t.is(d["OCSP-NONCE"].outcome, "error", d["OCSP-NONCE"].message);
  t.is(d["OCSP-NONCE"].cause, "unreachable");
  // every POST refused: OCSP-POST fails on it, the others point there
  const broken = await run(new FaultyCa(inner, "broken-ocsp-post"), ["OCSP-POST", "OCSP-NONCE", "OCSP-UNKNOWN"]);
  t.is(broken["OCSP-POST"].outcome, "fail");
  for (const id of ["OCSP-NONCE", "OCSP-UNKNOWN"]) {
    t.is(broken[id].outcome, "skip", broken[id].message);
    t.regex(broken[id].message, /see OCSP-POST$/);
  }
});
