import test from "ava";
import { DecodeError } from "../pki/index.js";
import { CaError } from "../simulator/ca/index.js";
import { NotJudged, Precondition, type Check } from "./checks/types.js";
import { judgeThrown, missingCredentials } from "./judgement.js";

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
});

test("credentials a check sends are missing only where the CA asks for them", (t) => {
  const check = { id: "X", credentials: ["raToken", "operatorToken"] } as unknown as Check;
  const caps = { authorisation: true, issuanceAuthorisation: true } as never;
  t.deepEqual(missingCredentials(check, caps, {}), ["raToken", "operatorToken"]);
  t.deepEqual(missingCredentials(check, caps, { raToken: "r" }), ["operatorToken"]);
  t.deepEqual(missingCredentials(check, { authorisation: false } as never, {}), [], "a CA that checks no credential asks for none");
  t.deepEqual(missingCredentials({ id: "Y" } as unknown as Check, caps, {}), ["raToken"], "every check issues by default");
});
