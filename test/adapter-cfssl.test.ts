import test from "ava";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { signalGroup, spawnGroup } from "../harness/processes.js";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { CaError } from "../simulator/ca/api.js";
import { breakSignature, buildOcspRequest, makeCsr, normSerial, parseCrl, parseOcspResponse, singleFor } from "../conformance/pkix.js";

/** The serials `openssl crl -text` lists, as integers in hex. */
const crlSerials = (text: string) => [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => normSerial(m[1]));

const holder = { id: "h1", name: "Alice", email: "alice@example.test" };
const scratch = mkdtempSync(join(tmpdir(), "cardloop-adapter-cfssl-"));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(scratch, name);
  writeFileSync(p, data);
  return p;
};
/** Live (not zombie) processes whose command line names `text`: the adapter's daemons and keeper name its directory. */
function processesNaming(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").some((a) => a.includes(text))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Waits (at most `ms`) until `done()`; says whether it came. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return done();
}

const sqlite = (db: string, sql: string) => execFileSync("sqlite3", [db, sql], { encoding: "utf8" }).trim();

test("cfssl serve signs and revokes into its SQLite certdb; gencrl and the OCSP cycle publish it", async (t) => {
  const ca = await CfsslCa.create();
  t.teardown(() => ca.close());
  const db = join(ca.dir, "certs.db");
  t.is(sqlite(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"), "certificates\nocsp_responses");

  const a = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder });
  const decimal = BigInt("0x" + a.serial).toString(10);
  t.is(sqlite(db, `SELECT status FROM certificates WHERE serial_number='${decimal}'`), "good");
  t.is(sqlite(db, `SELECT count(*) FROM ocsp_responses WHERE serial_number='${decimal}'`), "1"); // ocsprefresh ran

  await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "operator" });
  t.is(sqlite(db, `SELECT status || '/' || reason FROM certificates WHERE serial_number='${decimal}'`), "revoked/1");
  t.like(await ca.status(a.serial), { status: "revoked", reason: "keyCompromise" });

  const crl = execFileSync("openssl", ["crl", "-inform", "DER", "-in", file("crl.der", await ca.crl()), "-noout", "-text"], { encoding: "utf8" });
  t.deepEqual(crlSerials(crl), [normSerial(a.serial)]);

  // the real openssl OCSP client against cfssl ocspserve, after the refresh cycle
  const anchor = file("ca.pem", (await ca.anchors())[0]);
  const leaf = file("leaf.pem", a.certificatePem);
  const url = `http://127.0.0.1:${(ca as unknown as { ocspPort: number }).ocspPort}`;
  let out = "";
  for (let i = 0; i < 50 && !/revoked/.test(out); i++) {
    try {
      out = execFileSync("openssl", ["ocsp", "-issuer", anchor, "-cert", leaf, "-url", url, "-CAfile", anchor, "-no_nonce"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      // ocspserve is restarted by each refresh cycle: a refused connection in between is asked again (bounded by the loop)
      out = String((err as { stderr?: unknown }).stderr ?? err);
    }
    if (!/revoked/.test(out)) await new Promise((r) => setTimeout(r, 100));
  }
  t.regex(out, /leaf.pem: revoked/);
});

test("cfssl refusals are CaErrors in the seam's reason codes, CFSSL's own code and message kept; a second revocation is (wrongly) acknowledged", async (t) => {
  const ca = await CfsslCa.create();
  t.teardown(() => ca.close());
  const unknown = await t.throwsAsync(ca.revoke({ serial: "0123456789abcdef", reason: "keyCompromise", role: "operator" }));
  t.like(unknown as CaError, { status: 404, reason: "unknown-serial" });
  t.regex((unknown as CaError).message, /^cfssl \d+: .*not found/);
  const csr = await makeCsr("Carol");
  const broken = breakSignature(csr.pem);
  const bad = await t.throwsAsync(ca.issue({ csrPem: broken, profile: "authentication", holder }));
  t.like(bad as CaError, { status: 400, reason: "bad-csr-signature" });
  t.regex((bad as CaError).message, /^cfssl 9\d{3}: .*verification/);
  const a = await ca.issue({ csrPem: csr.pem, profile: "signature", holder });
  await ca.revoke({ serial: a.serial, reason: "superseded", role: "operator" });
  const again = await ca.revoke({ serial: a.serial, reason: "superseded", role: "operator" });
  t.is(again.status, "revoked");
  t.true(ca.capabilities().revokesAgain, "declared, so that explore does not expect a refusal");
});

test("cfssl's servers listen on 127.0.0.1 only, and close stops them and removes the directory", async (t) => {
  const ca = await CfsslCa.create();
  const ports = [(ca as unknown as { servePort: number }).servePort, (ca as unknown as { ocspPort: number }).ocspPort];
  const listening = execFileSync("ss", ["-ltnH"], { encoding: "utf8" });
  for (const p of ports) {
    const lines = listening.split("\n").filter((l) => new RegExp(`:${p}\\s`).test(l));
    t.true(lines.length > 0, `port ${p} is listening`);
    for (const l of lines) t.regex(l, new RegExp(`127\\.0\\.0\\.1:${p}\\s`));
  }
  const dir = ca.dir;
  t.true(processesNaming(dir).length >= 3, "cfssl serve, ocspserve and the keeper name the directory");
  await ca.close();
  t.false(existsSync(dir));
  t.true(await until(() => processesNaming(dir).length === 0, 10_000), "no daemon and no keeper is left after close");
  const after = execFileSync("ss", ["-ltnH"], { encoding: "utf8" });
  for (const p of ports) t.false(new RegExp(`:${p}\\s`).test(after), `port ${p} closed`);
});

test("this CFSSL makes no CRL from its certdb, so the CRL is the adapter's gencrl: no reasons, no CRL number, entries dated when it is made", async (t) => {
  // the DB-backed ways later CFSSLs have do not exist in this one
  const crlCommand = spawnSync("cfssl", ["crl"], { encoding: "utf8" });
  t.not(crlCommand.status, 0);
  t.regex(crlCommand.stdout + crlCommand.stderr, /Command crl is not defined/);
  const ca = await CfsslCa.create();
  t.teardown(() => ca.close());
  const api = `http://127.0.0.1:${(ca as unknown as { servePort: number }).servePort}/api/v1/cfssl`;
  t.is((await fetch(`${api}/crl`, { method: "POST", body: "{}" })).status, 404);
  // /gencrl is there, and wants the signing key in the request: bare serials, like the command
  t.regex(await (await fetch(`${api}/gencrl`, { method: "POST", body: "{}" })).text(), /Malformed certificate/i);
  t.like(ca.provenance().crl, { by: "adapter" });

  const a = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder });
  const revoked = await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "operator" });
  await new Promise((r) => setTimeout(r, 1500)); // so that "when revoked" and "when the CRL was made" differ by a second
  const der = await ca.crl();
  const text = execFileSync("openssl", ["crl", "-inform", "DER", "-in", file("gencrl.der", der), "-noout", "-text"], { encoding: "utf8" });
  t.deepEqual(crlSerials(text), [normSerial(a.serial)]);
  t.notRegex(text, /CRL Number/);
  t.notRegex(text, /Reason Code|Key Compromise/);
  const entry = parseCrl(der).entries.get(normSerial(a.serial))!;
  t.true(entry.revocationDate.getTime() >= revoked.revokedAt.getTime() + 1000, "the entry is dated when the CRL was made, not when the certificate was revoked");
});

test("this CFSSL's ocspserve answers every GET with 400 (it base64-decodes the path with its leading '/'): the error says what was sent and what came back", async (t) => {
  const ca = await CfsslCa.create();
  t.teardown(() => ca.close());
  const a = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder });
  const req = buildOcspRequest(a.chainPem[0], [a.serial]);
  const base = `http://127.0.0.1:${(ca as unknown as { ocspPort: number }).ocspPort}`;
  const b64 = Buffer.from(req).toString("base64");
  const err = await t.throwsAsync(ca.ocsp(req, "GET"), { instanceOf: CaError });
  t.is(err!.status, 400);
  t.is(err!.message, `OCSP GET ${base}/${encodeURIComponent(b64)} answered HTTP 400, content-type (none), empty body`);
  // not the adapter's URL-encoding (RFC 6960 A.1): the path unencoded fares no better, and POST of the same request is answered
  t.is((await fetch(`${base}/${b64}`)).status, 400);
  const post = await ca.ocsp(req, "POST");
  t.is(post[0], 0x30);
});

test("crl.regenerate: never and ocsp.refreshAfterRevoke: false: the provenance says when gencrl and the refresh cycle run, and they run then", async (t) => {
  const ca = await CfsslCa.create({ crl: { regenerate: "never" }, ocsp: { refreshAfterRevoke: false } });
  t.teardown(() => ca.close());
  const p = ca.provenance();
  // the CRL and its publication say the same: gencrl once, on the first fetch
  t.is(p["crl-publication"]!.how, "the adapter's gencrl, run once, on the first fetch (crl.regenerate: never: that CRL is served unchanged after)");
  t.regex(p.crl!.note ?? "", /made once, on the first fetch \(crl\.regenerate: never/);
  t.notRegex(JSON.stringify([p.crl, p["crl-publication"]]), /every fetch/);
  // OCSP and its publication say the same: the cycle at start and after each signing, not after a revocation
  t.is(p["ocsp-publication"]!.how, "the refresh cycle, run by the adapter at start, after each signing only (ocsp.refreshAfterRevoke: false: a revocation reaches OCSP with the next signing)");
  t.regex(p.ocsp!.note ?? "", /as a deployment's cron would, at start, after each signing only \(ocsp\.refreshAfterRevoke: false/);
  t.notRegex(JSON.stringify([p.ocsp, p["ocsp-publication"]]), /after each revocation|once, at start/);

  // and so they run: the first CRL stays after a revocation, which reaches OCSP with the next signing
  const a = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder });
  const first = await ca.crl();
  await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "operator" });
  t.deepEqual(await ca.crl(), first);
  t.is(parseCrl(first).entries.size, 0);
  const ocspSays = async () => singleFor(parseOcspResponse(await ca.ocsp(buildOcspRequest(a.chainPem[0], [a.serial]))), a.chainPem[0], a.serial)?.status;
  t.is(await ocspSays(), "good");
  await ca.issue({ csrPem: (await makeCsr("Bob")).pem, profile: "authentication", holder });
  t.is(await ocspSays(), "revoked");
});

test("the adapter's process killed by SIGKILL leaves no cfssl daemon and no directory behind (its keeper ends them)", async (t) => {
  const cfssl = resolve(import.meta.dirname, "..", "conformance", "adapters", "cfssl.ts");
  const script = `const { CfsslCa } = await import(${JSON.stringify(cfssl)}); const ca = await CfsslCa.create(); console.log("dir=" + ca.dir); setInterval(() => {}, 1000);`;
  const g = spawnGroup(t, process.execPath, ["--import=tsx", "--input-type=module", "-e", script], { label: "node with a cfssl adapter" });
  await g.waitFor("stdout", /^dir=/m, 30_000);
  const dir = /^dir=(.+)$/m.exec(g.stdout)![1];
  const daemons = processesNaming(dir);
  // Safety net should the keeper fail: the daemons and keeper lead groups of their own.
  t.teardown(() => processesNaming(dir).forEach((pid) => signalGroup(pid, "SIGKILL")));
  t.true(daemons.length >= 3, `cfssl serve, ocspserve and the keeper run (${daemons.length})`);
  t.true(existsSync(dir));
  process.kill(g.pid!, "SIGKILL");
  // Bounded: the keeper gives the daemons 3 s after SIGTERM, then SIGKILL.
  t.true(await until(() => processesNaming(dir).length === 0, 20_000), "no cfssl daemon and no keeper of it remain");
  t.true(await until(() => !existsSync(dir), 5_000), "its directory is removed");
});
