import "reflect-metadata";
import test from "ava";
import Database from "better-sqlite3";
import { join } from "node:path";
import { X509Crl } from "@peculiar/x509";
import { makeCsr } from "../../simulator/ca/testing.js";
import { serveCa, type ServedCa } from "./served-ca.js";

/**
 * A full or read-only store during revocations and the CRL rebuild (issue
 * 11, defect 6: the debounced rebuild threw SQLITE_FULL uncaught and ended
 * the server after an acknowledged revocation; writes answered 500). The CA
 * runs in its own process (test/abuse/serve-ca.ts) with real SQLite faults:
 * "full" sets max_page_count to the database's current page count (a write
 * that needs a new page fails with SQLITE_FULL, as on a full disk), "readonly"
 * makes the connection query-only (SQLITE_READONLY). The harness installs no
 * uncaughtException handler: a throw from a timer would end it.
 */
const post = (ca: ServedCa, path: string, body: unknown, token?: string) =>
  fetch(ca.url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });

/** What ca.db itself holds (read by another connection, as after a crash): the serials with a revocation row. */
function revokedOnDisk(ca: ServedCa): Set<string> {
  const db = new Database(join(ca.dataDir, "ca.db"), { readonly: true, fileMustExist: true });
  try {
    return new Set(db.prepare("SELECT serial FROM revocations WHERE status = 1").pluck().all() as string[]);
  } finally {
    db.close();
  }
}

test("revocations on a full store answer 503 and lose nothing acknowledged; the CA survives a failed CRL rebuild and recovers with the space", async (t) => {
  const ca = await serveCa(t, {}, { CA_CRL_DEBOUNCE_MS: "1500" });
  const csr = (await makeCsr()).pem;
  const serials: string[] = [];
  for (let i = 0; i < 80; i++) {
    const r = await post(ca, "/api/v1/certificates", { csr, profile: "signature", holder: { id: "SF-1", name: "Sam", email: "sam@example.org" } }, ca.raToken);
    t.is(r.status, 201);
    serials.push(((await r.json()) as { serial: string }).serial);
  }
  t.is((await fetch(`${ca.url}/crl`)).status, 200);

  // Full: revoke one at a time until the store refuses three in a row.
  await ca.send("full");
  const acked: string[] = [];
  const refused: string[] = [];
  let inARow = 0;
  for (const s of serials) {
    if (inARow >= 3) break;
    const r = await post(ca, "/api/v1/revocations", { serials: [s], reason: "keyCompromise" }, ca.operatorToken);
    const json = (await r.json()) as { error?: string };
    if (r.status === 200) {
      acked.push(s);
      inARow = 0;
    } else {
      t.is(r.status, 503, JSON.stringify(json));
      t.is(json.error, "storage-unavailable");
      t.regex(r.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
      refused.push(s);
      inARow++;
    }
  }
  t.is(inARow, 3, "the store filled up and refused");
  t.log(`${acked.length} revocations fitted before the store was full, then ${refused.length} refused`);
  // Every acknowledged revocation is in the file; no refused one is.
  const onDisk = revokedOnDisk(ca);
  t.deepEqual(acked.filter((s) => !onDisk.has(s)), [], "nothing acknowledged is missing from ca.db");
  t.deepEqual(refused.filter((s) => onDisk.has(s)), [], "nothing refused was written");
  for (const s of refused) t.is(((await (await fetch(`${ca.url}/api/v1/certificates/${s}`)).json()) as { status: string }).status, "good");

  // The debounced rebuild after those acknowledgements runs on the full store (it rewrites the CRL number in place,
  // so it needs no new page and usually succeeds): reported or done, the process is up.
  const crlEvents = () => ca.lines.filter((l) => l.startsWith("event ")).map((l) => JSON.parse(l.slice(6)) as { type: string; reason?: string });
  const eventsBefore = crlEvents().length;
  t.true(await ca.until(() => crlEvents().length > eventsBefore || !ca.alive()));
  t.true(ca.alive(), "the CA survived the CRL rebuild on a full store");
  t.log(`the rebuild on the full store: ${JSON.stringify(crlEvents().slice(eventsBefore))}`);

  // Space again, one more acknowledged revocation, then the store turns read-only before its debounced rebuild (1.5 s later).
  await ca.send("space");
  const late = refused.shift()!;
  t.is((await post(ca, "/api/v1/revocations", { serials: [late], reason: "keyCompromise" }, ca.operatorToken)).status, 200);
  acked.push(late);
  await ca.send("readonly");
  const failedBefore = crlEvents().filter((e) => e.type === "ca.crl-failed").length;
  t.true(await ca.until(() => crlEvents().filter((e) => e.type === "ca.crl-failed").length > failedBefore || !ca.alive()));
  t.true(ca.alive(), "a failed rebuild is an event, not the end of the process");
  t.is(crlEvents().filter((e) => e.type === "ca.crl-failed").at(-1)!.reason, "read-only");
  // Meanwhile: the stale CRL cannot be signed (503, not 500), OCSP and status still answer from what is committed.
  const stale = await fetch(`${ca.url}/crl`);
  t.is(stale.status, 503);
  t.is(((await stale.json()) as { error: string }).error, "storage-unavailable");
  t.is(((await (await fetch(`${ca.url}/api/v1/certificates/${late}`)).json()) as { status: string }).status, "revoked");

  // Writable again: the schedule's retry signs the CRL; it lists every acknowledged revocation.
  const signedBefore = crlEvents().filter((e) => e.type === "ca.crl").length;
  await ca.send("writable");
  t.true(await ca.until(() => crlEvents().filter((e) => e.type === "ca.crl").length > signedBefore));
  const crl = new X509Crl(new Uint8Array(await (await fetch(`${ca.url}/crl`)).arrayBuffer()));
  t.deepEqual(acked.filter((s) => !crl.findRevoked(s)), [], "every acknowledged revocation is on the CRL");
  // And what was refused can be done now.
  t.is((await post(ca, "/api/v1/revocations", { serials: refused, reason: "keyCompromise" }, ca.operatorToken)).status, 200);
  t.deepEqual([...acked, ...refused].filter((s) => !revokedOnDisk(ca).has(s)), []);
  t.true(ca.alive());
});
