import test from "ava";
import { EventBus, SystemClock, type AnyEvent } from "../core/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { RefusingCa } from "../conformance/adapters/refusing.js";
import { runCatalog, scrubSecrets } from "../conformance/runner.js";
import { CaError, type IssueRequest, type IssuedCertificate } from "../simulator/ca/api.js";

test("scrubSecrets masks known values at any depth, and leaves short or absent ones alone", (t) => {
  const out = scrubSecrets({ a: "code K7Q2-9XZ4-ABCD here", b: ["K7Q2-9XZ4-ABCD"], n: 3, short: "abc" }, ["K7Q2-9XZ4-ABCD", undefined, "abc"]);
  t.deepEqual(out, { a: "code *** here", b: ["***"], n: 3, short: "abc" });
});

test("a CA that quotes a cancellation code or a token in its refusal: neither reaches an event", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const codes: string[] = [];
  const recording = new RefusingCa(inner, []);
  const issue = recording.issue.bind(recording);
  recording.issue = async (req: IssueRequest): Promise<IssuedCertificate> => {
    const c = await issue(req);
    if (c.cancellationCodes) codes.push(...Object.values(c.cancellationCodes).filter((x): x is string => !!x));
    return c;
  };
  // Every revocation is refused with a message quoting the right holder code and certify's operator token.
  recording.revoke = async () => {
    throw new CaError(400, "bad-request", `refused: expected ${codes[0]} (operator ${inner.operatorToken})`);
  };
  const bus = new EventBus(new SystemClock());
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const run = await runCatalog(recording, { bus, clock: new SystemClock(), only: ["REV-AUTH-WRONG-CODE", "REV-REASONS"] });
  t.true(codes.length > 0);
  t.true(run.results.every((r) => r.outcome === "error"), JSON.stringify(run.results.map((r) => [r.id, r.outcome, r.message])));
  const log = JSON.stringify(events);
  t.regex(log, /refused: expected \*\*\*/, "the message is kept, the code masked");
  for (const secret of [...codes, inner.operatorToken!, inner.raToken!]) t.false(log.includes(secret));
});
