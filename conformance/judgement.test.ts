import test from "ava";
import { DecodeError } from "../pki/index.js";
import { CaError } from "../simulator/ca/index.js";
import { OcspTransportError } from "./adapters/loopback-http.js";
import { NotJudged, Precondition, type Check } from "./checks/types.js";
import { firstLine, harnessRefusal, judgeThrown, missingCredentials } from "./judgement.js";

test("what an exception out of a check means: a harness problem is never a CA defect, a CA defect never a harness problem", (t) => {
  t.like(judgeThrown(new Precondition("see ISS-PUBLIC-KEY")), { outcome: "skip", message: "see ISS-PUBLIC-KEY" });
  t.like(judgeThrown(new NotJudged("adapter", "openssl ca cannot record it", "use another adapter")), { outcome: "error", cause: "adapter", fix: "use another adapter" });
  t.like(judgeThrown(new CaError(401, "credential-required", "token required")), { outcome: "error", cause: "credential" });
  t.regex(judgeThrown(new CaError(401, "credential-required", "token required")).fix!, /--ca-config/);
  t.like(judgeThrown(new CaError(429, "too-many-attempts", "wait", 5000)), { outcome: "error", cause: "throttled" });
  t.like(judgeThrown(new CaError(400, "incomplete", "answers to the registration questions are required")), { outcome: "error", cause: "refused-otherwise" });
  t.like(judgeThrown(new CaError(500, "openssl", "openssl ca -gencrl failed")), { outcome: "fail" });
  t.like(judgeThrown(new CaError(503, "storage-unavailable", "disk full")), { outcome: "error", cause: "throttled" });
  t.like(judgeThrown(new CaError(502, "bad-gateway", "upstream closed")), { outcome: "error", cause: "unreachable" });
  t.like(judgeThrown(new CaError(504, "gateway-timeout", "upstream timed out")), { outcome: "error", cause: "unreachable" });
  t.like(judgeThrown(new DecodeError("truncated CRL", 12)), { outcome: "fail" });
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
  t.like(judgeThrown(refused), { outcome: "error", cause: "unreachable" });
  const wrapped = Object.assign(new TypeError("fetch failed"), { cause: { code: "UND_ERR_SOCKET" } });
  t.like(judgeThrown(wrapped), { outcome: "error", cause: "unreachable" });
  t.like(judgeThrown(new TypeError("cannot read properties of undefined")), { outcome: "error", cause: "harness" });
  // the OCSP adapter's "no HTTP answer", whatever the error under it carried
  t.like(judgeThrown(new OcspTransportError("OCSP POST http://127.0.0.1:9/ocsp", new Error("other side closed"))), { outcome: "error", cause: "unreachable" });
});

test("harnessRefusal: the statuses that say nothing about the request, decided once, as judgeThrown reads them", (t) => {
  const cases = [
    [401, "credential"],
    [429, "throttled"],
    [503, "throttled"],
    [502, "unreachable"],
    [504, "unreachable"],
  ] as const;
  for (const [status, why] of cases) {
    const err = new CaError(status, "r", `line one\nline two`);
    const nj = harnessRefusal(err);
    t.true(nj instanceof NotJudged, String(status));
    t.is(nj!.why, why, String(status));
    t.like(nj!.evidence, { status, reason: "r", caMessage: "line one" });
    t.like(judgeThrown(err), { outcome: "error", cause: why, message: nj!.message, fix: nj!.fix });
  }
  t.regex(harnessRefusal(new CaError(401, "credential-required", "token required"))!.fix, /--ca-config/);
  t.like(harnessRefusal(new CaError(429, "throttled", "wait", 5000))!.evidence, { retryAfterMs: 5000 });
  for (const other of [new CaError(400, "bad", "no"), new CaError(403, "forbidden", "no"), new CaError(500, "internal", "boom"), new Error("x"), new TypeError("y"), undefined]) {
    t.is(harnessRefusal(other), undefined, String(other));
  }
});

test("firstLine: the first line of an error's message or of a string, bounded", (t) => {
  t.is(firstLine(new Error("one\ntwo")), "one");
  t.is(firstLine("plain\nmore"), "plain");
  t.is(firstLine(new Error("x".repeat(400))).length, 300);
  t.is(firstLine(new Error("x".repeat(600)), 500).length, 500);
});

test("credentials a check sends are missing only where the CA asks for them", (t) => {
  const check = { id: "X", credentials: ["raToken", "operatorToken"] } as unknown as Check;
  const caps = { authorisation: true, issuanceAuthorisation: true } as never;
  t.deepEqual(missingCredentials(check, caps, {}), ["raToken", "operatorToken"]);
  t.deepEqual(missingCredentials(check, caps, { raToken: "r" }), ["operatorToken"]);
  t.deepEqual(missingCredentials(check, { authorisation: false } as never, {}), [], "a CA that checks no credential asks for none");
  t.deepEqual(missingCredentials({ id: "Y" } as unknown as Check, caps, {}), ["raToken"], "every check issues by default");
});
