import test, { type ExecutionContext } from "ava";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CARDLOOP_VERSION, SystemClock, VirtualClock } from "../core/index.js";
import { EmbeddedCa, startCaServer, CaError, type Artefact, type CaAdapter, type Provenance } from "../simulator/ca/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { HttpCa } from "../conformance/adapters/http.js";
import { OpensslCa } from "../conformance/adapters/openssl.js";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { FaultyCa } from "../conformance/adapters/faulty.js";
import { RefusingCa } from "../conformance/adapters/refusing.js";
import { ocspGetUrl, ocspOverHttp, OcspTransportError } from "../conformance/adapters/loopback-http.js";
import { freeLoopbackPort } from "../conformance/adapters/process.js";
import { judgeThrown } from "../conformance/judgement.js";
import { buildOcspRequest, makeCsr, normSerial } from "../conformance/pkix.js";

/**
 * Every shipped adapter says what answers (identity) and how it obtains each
 * artefact a verdict rests on (provenance), without a secret in either; an
 * OCSP exchange that fails says what was sent and what came back.
 */
const ARTEFACTS: readonly Artefact[] = ["issuance", "renewal", "revocation", "status", "crl", "ocsp", "crl-publication", "ocsp-publication"];
const holder = { id: "h1", name: "Alice", email: "alice@example.test" };
const scratch = mkdtempSync(join(tmpdir(), "cardloop-adapter-provenance-"));

/** Each of the eight artefacts, with who makes it and a command or endpoint that is not empty. */
function coversAll(t: ExecutionContext, p: Provenance): void {
  t.deepEqual(Object.keys(p).sort(), [...ARTEFACTS].sort());
  for (const a of ARTEFACTS) {
    t.true(p[a]!.by === "ca" || p[a]!.by === "adapter", a);
    t.true(p[a]!.how.trim().length > 0, `${a} says how`);
  }
}

/** The base64 lines of every private key file in `dir` (a line of key material is a secret). */
function keyMaterial(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => /key.*\.pem$/.test(f));
  const lines = files.flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter((l) => l && !l.startsWith("-----")));
  return lines;
}

/** No secret in anything the adapter says of itself: its credentials, its keys' material, no PEM key block. */
function saysNoSecret(t: ExecutionContext, said: unknown, secrets: Array<string | undefined>): void {
  const text = JSON.stringify(said);
  t.notRegex(text, /PRIVATE KEY/);
  const real = secrets.filter((s): s is string => typeof s === "string" && s.length >= 8);
  for (const s of real) t.false(text.includes(s), "a secret is in the adapter's provenance or identity");
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(`http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`);
    }),
  );
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

test("embedded: the cardloop embedded CA at cardloop's version, making everything itself, in process", async (t) => {
  const ca = await createEmbeddedAdapter({ serve: true });
  t.teardown(() => ca.close());
  const id = await ca.identity();
  t.like(id, { software: "cardloop embedded CA", version: CARDLOOP_VERSION });
  t.regex(id.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
  const p = ca.provenance();
  coversAll(t, p);
  for (const a of ARTEFACTS) t.is(p[a]!.by, "ca", a);
  t.regex(p.ocsp!.note ?? "", /no HTTP/); // in process: OCSP-GET does not exercise an HTTP GET here
  const { raToken, operatorToken } = ca.credentials();
  t.truthy(raToken);
  saysNoSecret(t, [id, p], [raToken, operatorToken]);
  // not served: no URL to name
  const plain = await createEmbeddedAdapter();
  t.teardown(() => plain.close());
  t.deepEqual(await plain.identity(), { software: "cardloop embedded CA", version: CARDLOOP_VERSION });
});

test("http: the served CA says what it is at /api/v1/info, to anyone and changing nothing; every artefact is the CA's, by its endpoints", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 10, clock: new VirtualClock("2026-05-01T00:00:00Z") });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await inner.close();
  });
  const issued = await inner.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder, raToken: inner.raToken });
  const before = { crl: Buffer.from(inner.currentCrl()).toString("hex"), audit: inner.audit().length, status: await inner.status(issued.serial) };

  const res = await fetch(`${server.url}/api/v1/info`); // no credential
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { software: "cardloop embedded CA", version: CARDLOOP_VERSION });
  t.deepEqual({ crl: Buffer.from(inner.currentCrl()).toString("hex"), audit: inner.audit().length, status: await inner.status(issued.serial) }, before);

  const ca = await HttpCa.connect({ url: server.url, raToken: inner.raToken, operatorToken: inner.operatorToken });
  t.teardown(() => ca.close());
  const id = await ca.identity();
  t.deepEqual(id, { software: "cardloop embedded CA", version: CARDLOOP_VERSION, url: server.url });

  const p = ca.provenance();
  coversAll(t, p);
  for (const a of ARTEFACTS) t.is(p[a]!.by, "ca", a);
  t.is(p.issuance!.how, `POST ${server.url}/api/v1/certificates (Authorization: Bearer <raToken>); many at once: POST ${server.url}/api/v1/certificates/batch`);
  t.is(p.crl!.how, `GET ${server.url}/crl`);
  t.regex(p.ocsp!.how, new RegExp(`^POST ${server.url}/ocsp .*GET ${server.url}/ocsp/`));
  saysNoSecret(t, [id, p], [inner.raToken, inner.operatorToken]);
  t.deepEqual(inner.audit().length, before.audit); // the adapter's questions changed nothing either
});

test("http: a password in the URL reaches neither the name, the identity nor the provenance", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await inner.close();
  });
  const withPassword = server.url.replace("http://", "http://certify:pa55word-in-url@");
  const ca = await HttpCa.connect({ url: withPassword });
  t.teardown(() => ca.close());
  const said = [ca.name, await ca.identity(), ca.provenance()];
  t.false(JSON.stringify(said).includes("pa55word-in-url"));
  t.is((await ca.identity()).url, server.url);
});

test("http: a server without /api/v1/info is software unknown, with its URL (not its Server header: no report prints that)", async (t) => {
  const chain = await EmbeddedCa.open({ kdfLog2N: 10 });
  const pems = chain.chainPem();
  await chain.close();
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader("server", "acme-ca/2.1");
    if (req.url === "/ca") {
      res.writeHead(200, { "content-type": "application/pem-certificate-chain" });
      res.end(pems.join(""));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not here");
  });
  const url = await listen(server);
  t.teardown(() => closeServer(server));
  const ca = await HttpCa.connect({ url });
  t.teardown(() => ca.close());
  const connected = seen.length;
  t.deepEqual(await ca.identity(), { software: "unknown", url });
  t.true(seen.includes("GET /api/v1/info"));
  // asked again, it answers the same, and asking is only ever GET /api/v1/info
  t.deepEqual(await ca.identity(), { software: "unknown", url });
  t.deepEqual(seen.slice(connected), ["GET /api/v1/info", "GET /api/v1/info"]);
});

test("openssl: OpenSSL at the version the binary reports; openssl ca and openssl ocsp make everything but the renewal", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const version = execFileSync("openssl", ["version"], { encoding: "utf8" }).trim();
  t.regex(version, /^OpenSSL 3\./);
  t.deepEqual(await ca.identity(), { software: "OpenSSL", version });

  const p = ca.provenance();
  coversAll(t, p);
  t.like(p, {
    issuance: { by: "ca" },
    renewal: { by: "adapter" },
    revocation: { by: "ca" },
    status: { by: "ca" },
    crl: { by: "ca" },
    ocsp: { by: "ca" },
    // openssl ca publishes no CRL by itself: the adapter runs -gencrl when the CRL is fetched
    "crl-publication": { by: "adapter" },
    // openssl ocsp reads the live index on every request
    "ocsp-publication": { by: "ca" },
  });
  t.regex(p.issuance!.how, /^openssl ca -batch -config ca\.cnf -extensions authentication\|signature /);
  t.regex(p.revocation!.how, /^openssl ca -config ca\.cnf -revoke newcerts\/<SERIAL>\.pem -crl_reason <reason>$/);
  t.regex(p.revocation!.note ?? "", /privilegeWithdrawn/);
  t.regex(p.renewal!.how, /openssl ca -config ca\.cnf -revoke newcerts\/<OLD SERIAL>\.pem -crl_reason superseded$/);
  t.regex(p.status!.how, /^the row of index\.txt for <SERIAL> /);
  t.regex(p.status!.note ?? "", /openssl ca -config ca\.cnf -status <SERIAL>/);
  t.is(p.crl!.how, "openssl ca -config ca.cnf -gencrl -crlsec 86400 -out crl.pem");
  t.is(p.ocsp!.how, "openssl ocsp -index index.txt -CA ca.pem -rsigner ocsp.pem -rkey ocsp-key.pem -reqin request.der -respout response.der -nmin 60");
  t.regex(p.ocsp!.note ?? "", /the adapter carries the HTTP/);
  saysNoSecret(t, [await ca.identity(), p], keyMaterial(ca.dir));

  // the renewal is what the provenance says: a new certificate, and the old one revoked as superseded
  const old = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "signature", holder });
  const renewed = await ca.renew(old.serial, { csrPem: (await makeCsr("Alice")).pem });
  t.not(normSerial(renewed.serial), normSerial(old.serial));
  t.like(await ca.status(old.serial), { status: "revoked", reason: "superseded" });
  // and the CRL command runs as written, in the adapter's directory
  execFileSync("sh", ["-c", p.crl!.how], { cwd: ca.dir, stdio: "ignore" });
  const text = execFileSync("openssl", ["crl", "-in", join(ca.dir, "crl.pem"), "-noout", "-text"], { encoding: "utf8" });
  t.true([...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].some((m) => normSerial(m[1]) === normSerial(old.serial)));
  t.regex(text, /Superseded/);
});

test("openssl: a fault option that doctors the index makes that artefact the adapter's, and says so", async (t) => {
  const doctored = await OpensslCa.create({ crl: { entries: "strip-reasons" }, ocsp: { index: "drop-valid", signer: "ca" } });
  t.teardown(() => doctored.close());
  const p = doctored.provenance();
  coversAll(t, p);
  t.like(p, { crl: { by: "adapter" }, ocsp: { by: "adapter" }, issuance: { by: "ca" }, revocation: { by: "ca" } });
  t.regex(p.crl!.how, /-name CA_crl -gencrl/);
  t.regex(p.crl!.note ?? "", /stripped of reasons.*crl\.entries: strip-reasons/);
  t.regex(p.ocsp!.how, /-index index-ocsp\.txt -CA ca\.pem -rsigner ca\.pem -rkey ca-key\.pem /);
  t.regex(p.ocsp!.note ?? "", /without its valid certificates \(ocsp\.index: drop-valid\)/);
  saysNoSecret(t, p, keyMaterial(doctored.dir));

  const reset = await OpensslCa.create({ crl: { number: "reset" } });
  t.teardown(() => reset.close());
  t.like(reset.provenance(), { crl: { by: "adapter" }, ocsp: { by: "ca" } });
  t.regex(reset.provenance().crl!.note ?? "", /rewrites crlnumber/);
  // a configuration the CA itself runs with stays the CA's
  const absent = await OpensslCa.create({ crl: { number: "absent", stale: true } });
  t.teardown(() => absent.close());
  t.like(absent.provenance(), { crl: { by: "ca" } });
  t.regex(absent.provenance().crl!.note ?? "", /no CRL number.*two days back/);
});

test("cfssl: CFSSL at the version the binary reports; the CRL and the renewal are the adapter's", async (t) => {
  const ca = await CfsslCa.create();
  t.teardown(() => ca.close());
  const out = execFileSync("cfssl", ["version"], { encoding: "utf8" });
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "m").exec(out)![1].trim();
  t.is(field("Version"), "1.2.0");
  const id = await ca.identity();
  t.is(id.software, "CFSSL");
  t.is(id.version, `${field("Version")} (revision ${field("Revision")}, runtime ${field("Runtime")})`);
  t.regex(id.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);

  const p = ca.provenance();
  coversAll(t, p);
  t.like(p, {
    issuance: { by: "ca" },
    renewal: { by: "adapter" },
    revocation: { by: "ca" },
    status: { by: "ca" },
    crl: { by: "adapter" },
    ocsp: { by: "ca" },
    "crl-publication": { by: "adapter" },
    // CFSSL's refresh cycle, run when the adapter says: propagation measured here is not a deployment's
    "ocsp-publication": { by: "adapter" },
  });
  t.regex(p.issuance!.how, new RegExp(`^POST ${id.url}/api/v1/cfssl/sign `));
  t.regex(p.revocation!.how, new RegExp(`^POST ${id.url}/api/v1/cfssl/revoke `));
  t.regex(p.status!.how, /^sqlite3 certs\.db /);
  t.regex(p.crl!.how, /; cfssl gencrl revoked\.txt ca\.pem ca-key\.pem$/);
  t.regex(p.crl!.note ?? "", /no reason.*time of generation.*no CRL number/);
  t.regex(p.ocsp!.how, /^cfssl ocsprefresh .*; cfssl ocspdump .*; cfssl ocspserve /);
  t.regex(p.ocsp!.note ?? "", /after each revocation/);
  saysNoSecret(t, [id, p], keyMaterial(ca.dir));
});

test("FaultyCa and RefusingCa say what the CA they wrap says", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const faulty = new FaultyCa(inner, "release-noop");
  const refusing = new RefusingCa(faulty, [{ op: "issue", status: 400, reason: "x", message: "no" }]);
  for (const wrapper of [faulty, refusing] as CaAdapter[]) {
    t.deepEqual(await wrapper.identity!(), await inner.identity());
    t.deepEqual(wrapper.provenance!(), inner.provenance());
  }
  // around a CA that says nothing of itself they say nothing either: the runner's "unknown" is the only fallback
  const silent = new Proxy(inner, { get: (o, k) => (k === "identity" || k === "provenance" ? undefined : Reflect.get(o, k)) }) as CaAdapter;
  for (const wrapper of [new FaultyCa(silent, "release-noop"), new RefusingCa(new FaultyCa(silent, "release-noop"), [])] as CaAdapter[]) {
    t.is(wrapper.identity, undefined);
    t.is(wrapper.provenance, undefined);
  }
});

test("RefusingCa: a refusal's `when` is typed by its operation's request (no cast), and refuses only what it matches", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const ca = new RefusingCa(inner, [{ op: "issue", when: (q) => q.profile === "signature", status: 400, reason: "profile-closed", message: "no signature certificates today" }]);
  const raToken = inner.credentials().raToken;
  const refused = await t.throwsAsync(ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "signature", holder, raToken }), { instanceOf: CaError });
  t.like(refused, { status: 400, reason: "profile-closed" });
  // a request it does not match reaches the CA
  const issued = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder, raToken });
  t.is((await inner.status(issued.serial)).status, "good");
});

test("an OCSP answer that is no OCSP response names the method, the URL as sent, the status, the content type and the body", async (t) => {
  const server = createServer((req, res) => {
    if (req.method === "GET") {
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end("cannot decode base64 path\n");
    } else {
      req.resume();
      res.writeHead(503, { "content-type": "application/octet-stream" });
      res.end(Buffer.from([0x00, 0xff, 0x10, 0x80]));
    }
  });
  const base = await listen(server);
  t.teardown(() => closeServer(server));
  const ca = await createEmbeddedAdapter();
  t.teardown(() => ca.close());
  const issued = await ca.issue({ csrPem: (await makeCsr("Alice")).pem, profile: "authentication", holder, raToken: ca.credentials().raToken });
  const der = buildOcspRequest(issued.chainPem[0], [issued.serial]);

  const get = await t.throwsAsync(ocspOverHttp(`${base}/ocsp`, der, "GET"), { instanceOf: CaError });
  const sent = ocspGetUrl(`${base}/ocsp`, der);
  t.is(sent, `${base}/ocsp/${encodeURIComponent(Buffer.from(der).toString("base64"))}`); // RFC 6960 A.1
  t.is(get!.status, 400);
  t.is(get!.message, `OCSP GET ${sent} answered HTTP 400, content-type text/plain; charset=utf-8, body "cannot decode base64 path "`);

  const post = await t.throwsAsync(ocspOverHttp(`${base}/ocsp`, der, "POST"), { instanceOf: CaError });
  t.is(post!.status, 503);
  t.is(post!.message, `OCSP POST ${base}/ocsp (${der.length} bytes, application/ocsp-request) answered HTTP 503, content-type application/octet-stream, body (hex) 00ff1080`);

  // no answer at all: the URL, and still a transport failure to the judgement (not judged, unreachable)
  const closed = `http://127.0.0.1:${await freeLoopbackPort()}/ocsp`;
  const refused = await t.throwsAsync(ocspOverHttp(closed, der, "POST"), { instanceOf: OcspTransportError });
  t.true(refused!.message.startsWith(`OCSP POST ${closed} `));
  t.like(judgeThrown(refused), { outcome: "error", cause: "unreachable" });
});

test("a module adapter without identity() is named by its path; one with its own keeps it", async (t) => {
  const { resolveAdapter } = await import("../conformance/adapters/resolve-target.js");
  const clock = new SystemClock();
  const body = (identity: string) => `
export function createAdapter() {
  const no = () => { throw new Error("unused"); };
  return { name: "m", ${identity} capabilities: no, issue: no, renew: no, revoke: no, release: no, status: no, crl: no, ocsp: no, anchors: no, close: async () => {} };
}
`;
  const bare = join(scratch, "bare-module.ts");
  writeFileSync(bare, body(""));
  const own = join(scratch, "own-module.ts");
  writeFileSync(own, body(`identity: async () => ({ software: "Acme CA", version: "7.1" }),`));
  const a = await resolveAdapter(`module:${bare}`, {}, clock);
  t.teardown(() => a.close());
  t.deepEqual(await a.identity!(), { software: `module:${bare}` });
  const b = await resolveAdapter(`module:${own}`, {}, clock);
  t.teardown(() => b.close());
  t.deepEqual(await b.identity!(), { software: "Acme CA", version: "7.1" });
});
