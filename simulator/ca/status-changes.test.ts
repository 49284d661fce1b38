import test from "ava";
import { EventBus, SeededRandom, VirtualClock } from "../../core/index.js";
import { encodePem, OcspResponse } from "../../pki/index.js";
import { buildOcspRequest, parseCrl } from "../../conformance/pkix.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { StatusChanges, type StatusChange } from "./status-changes.js";
import { makeCsr } from "./testing.js";

/**
 * A follower of the status changes that throws (review R1 B2) must not keep
 * the others from the change, and an acknowledged revocation must never be
 * left "good" on OCSP or missing from the CRL.
 */
test("StatusChanges: a listener that throws skips no other listener and is reported; changed() does not throw", (t) => {
  const changes = new StatusChanges();
  const heard: string[] = [];
  const failed: Array<[StatusChange, unknown]> = [];
  changes.on(() => heard.push("a"));
  changes.on(() => {
    throw new RangeError("no memory");
  });
  changes.on(() => heard.push("c"));
  changes.onFailure((c, e) => failed.push([c, e]));
  t.notThrows(() => changes.changed("revoked", ["0a"]));
  t.deepEqual(heard, ["a", "c"]);
  t.is(failed.length, 1);
  t.is(failed[0][0].kind, "revoked");
  t.true(failed[0][1] instanceof RangeError);
});

test("CRL entries that fail to follow a revocation: acknowledged, revoked on OCSP, listed on the next CRL once, reported", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const bus = new EventBus(clock);
  const failures: unknown[] = [];
  bus.on((e) => {
    if (e.type === "ca.follower-failed") failures.push(e.data);
  });
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(5), kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 60_000, events: bus });
  t.teardown(() => ca.close());
  const holder = { id: "F-1", name: "Fay Follow", email: "fay@example.org" };
  const a = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "authentication", holder, raToken: ca.raToken });
  const other = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "authentication", holder, raToken: ca.raToken });
  const issuer = encodePem(ca.hierarchy.issuing.certificate, "CERTIFICATE");
  const ocspOf = async (serial: string) => new OcspResponse(await ca.ocsp(buildOcspRequest(issuer, [serial]))).responses[0].status;
  // Cache a "good" answer first: a skipped invalidation would keep serving it.
  t.is(await ocspOf(a.serial), "good");
  await ca.crl();
  // One throw from the CRL entries (as new SharedArrayBuffer under memory pressure would), registered before OCSP's listener.
  const entries = (ca as unknown as { s: { crls: { entries: { follow: (...x: unknown[]) => void } } } }).s.crls.entries;
  const follow = entries.follow.bind(entries);
  let thrown = 0;
  entries.follow = (...x: unknown[]) => {
    if (thrown++ === 0) throw new RangeError("Array buffer allocation failed");
    return follow(...x);
  };
  const r = await ca.revokeMany([a.serial], "keyCompromise", ca.operatorToken);
  t.is(r.revoked, 1);
  t.is(thrown, 1);
  t.is(failures.length, 1, "reported as ca.follower-failed");
  t.is(await ocspOf(a.serial), "revoked", "OCSP answers revoked after the acknowledgement");
  await ca.revokeMany([other.serial], "keyCompromise", ca.operatorToken); // followed normally after the failure
  const listed = [...parseCrl(await ca.crl()).entries.keys()].map((s) => s.replace(/^0+/, "")).sort();
  t.deepEqual(listed, [a.serial, other.serial].map((s) => s.replace(/^0+/, "")).sort(), "both on the next CRL, each once");
});
