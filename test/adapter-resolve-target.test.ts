import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CARDLOOP_VERSION, SystemClock, UsageError } from "../core/index.js";
import { resolveAdapter, readCaConfig } from "../conformance/adapters/resolve-target.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { certInfo, EKU, makeCsr } from "../conformance/pkix.js";

const clock = new SystemClock();
const dir = mkdtempSync(join(tmpdir(), "cardloop-adapter-target-"));
const holder = { id: "h", name: "Dana", email: "dana@example.test" };
const days = (a: Date, b: Date) => Math.round((b.getTime() - a.getTime()) / 86_400_000);
const yaml = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return readCaConfig(f);
};

test("--ca-config YAML reaches the adapter: validity for openssl (days) and cfssl (hours)", async (t) => {
  const cfg = join(dir, "short.yaml");
  writeFileSync(cfg, "# a CA issuing 400-day certificates\nvalidity: 400d\n");
  const config = readCaConfig(cfg);
  t.deepEqual(config, { validity: "400d" });
  for (const spec of ["openssl", "cfssl"]) {
    const ca = await resolveAdapter(spec, config, clock);
    try {
      const c = await ca.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder, ...ca.credentials?.() });
      t.is(days(c.notBefore, c.notAfter), 400, spec);
    } finally {
      await ca.close();
    }
  }
});

test("embedded, http://URL and module:PATH load; the module gets the YAML options", async (t) => {
  const embedded = await resolveAdapter("embedded", {}, clock);
  t.is(embedded.name, "embedded");
  await embedded.close();

  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await inner.close();
  });
  const http = await resolveAdapter(server.url, {}, clock);
  t.is(http.name, `http ${server.url}`);
  t.is((await http.anchors()).length, 1);
  await http.close();

  const mod = await resolveAdapter("module:conformance/examples/my-adapter.ts", { url: server.url, hold: false, raToken: inner.raToken }, clock);
  t.is(mod.name, `my-ca ${server.url}`);
  t.false(mod.capabilities().hold);
  const c = await mod.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "signature", holder, raToken: mod.credentials?.().raToken });
  t.is((await mod.status(c.serial)).status, "good");
  await mod.close();
});

test("every --ca target says what answers: embedded, http://URL (its /api/v1/info) and the worked example module (its own identity() and provenance())", async (t) => {
  const embedded = await resolveAdapter("embedded", {}, clock);
  t.teardown(() => embedded.close());
  t.deepEqual(await embedded.identity?.(), { software: "cardloop embedded CA", version: CARDLOOP_VERSION });

  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await inner.close();
  });
  const http = await resolveAdapter(server.url, {}, clock);
  t.teardown(() => http.close());
  t.deepEqual(await http.identity?.(), { software: "cardloop embedded CA", version: CARDLOOP_VERSION, url: server.url });

  const mod = await resolveAdapter("module:conformance/examples/my-adapter.ts", { url: server.url, raToken: inner.raToken, operatorToken: inner.operatorToken }, clock);
  t.teardown(() => mod.close());
  t.deepEqual(await mod.identity?.(), { software: "cardloop embedded CA", version: CARDLOOP_VERSION, url: server.url });
  const p = mod.provenance?.() ?? {};
  t.deepEqual(Object.keys(p).sort(), ["crl", "crl-publication", "issuance", "ocsp", "ocsp-publication", "renewal", "revocation", "status"]);
  t.false(JSON.stringify(p).includes(inner.raToken!));
  t.false(JSON.stringify(p).includes(inner.operatorToken!));
});

test("embedded with serve: true answers at the URLs its certificates name", async (t) => {
  const ca = await resolveAdapter("embedded", { serve: true }, clock);
  t.teardown(() => ca.close());
  const c = await ca.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder, raToken: ca.credentials?.().raToken });
  const info = certInfo(c.certificatePem);
  t.regex(info.crlUrls[0], /^http:\/\/127\.0\.0\.1:\d+\//);
  const res = await fetch(info.crlUrls[0]);
  t.is(res.status, 200);
  t.is(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(await ca.crl())), 0);
});

test("unusable targets and configs are usage errors", async (t) => {
  await t.throwsAsync(resolveAdapter("ldap://ca", {}, clock), { instanceOf: UsageError, message: /--ca must be embedded, openssl, cfssl/ });
  const empty = join(dir, "empty-module.ts");
  writeFileSync(empty, "export const nothing = 1;\n");
  await t.throwsAsync(resolveAdapter(`module:${empty}`, {}, clock), { instanceOf: UsageError, message: /exports no createAdapter/ });
  const partial = join(dir, "partial-module.ts");
  writeFileSync(partial, "export function createAdapter() { return { name: 'half', issue() {} }; }\n");
  await t.throwsAsync(resolveAdapter(`module:${partial}`, {}, clock), { instanceOf: UsageError, message: /lacks capabilities\(\)/ });
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "validity: [\n");
  t.throws(() => readCaConfig(bad), { instanceOf: UsageError, message: /not valid YAML/ });
  await t.throwsAsync(resolveAdapter("openssl", { validity: "three years" }, clock), { instanceOf: UsageError, message: /validity/ });
  t.throws(() => readCaConfig(join(dir, "missing.yaml")), { instanceOf: UsageError });
});

test("a key the adapter does not take is refused, named, before anything starts", async (t) => {
  const refused = async (spec: string, text: string, message: RegExp) => {
    const err = await t.throwsAsync(resolveAdapter(spec, yaml("refused.yaml", text), clock), { instanceOf: UsageError, message });
    t.false(err?.message.includes("\n"), "one line");
  };
  // misspelt, at the top and nested: each would otherwise silently be the default
  await refused("openssl", "validityDay: 400\n", /^--ca-config: unknown key validityDay for --ca openssl \(known: validity, validityDays, /);
  await refused("openssl", "crl:\n  regenerat: never\n", /^--ca-config: unknown key crl\.regenerat for --ca openssl \(known under crl: regenerate, /);
  await refused("openssl", "profiles:\n  auth:\n    keyUsage: ~\n", /unknown key profiles\.auth for --ca openssl \(known under profiles: authentication, signature\)/);
  await refused("cfssl", "ocsp:\n  refreshAfterRevok: false\n", /unknown key ocsp\.refreshAfterRevok for --ca cfssl/);
  await refused("cfssl", "validityDays: 400\n", /unknown key validityDays for --ca cfssl/); // openssl's word, not cfssl's
  await refused("embedded", "maxValidityYear: 5\n", /unknown key maxValidityYear for --ca embedded/);
  await refused("embedded", "validity: 5y\n", /unknown key validity for --ca embedded \(known: .*maxValidityYears/); // it caps, it has no fixed validity
  await refused("http://127.0.0.1:1", "operatorTokn: x\n", /unknown key operatorTokn for --ca http:\/\/127\.0\.0\.1:1/);
  await refused("http://127.0.0.1:1", "capabilities:\n  holds: false\n", /unknown key capabilities\.holds/);
  await refused("http://127.0.0.1:1", "url: http://elsewhere\n", /unknown key url/); // the URL is --ca itself
  // values the option cannot mean: YAML's `no` is a string, not false
  await refused("openssl", "honourCardExpiry: no\n", /^--ca-config: honourCardExpiry must be a boolean \(got "no"\)$/);
  await refused("openssl", "crl:\n  regenerate: sometimes\n", /^--ca-config: crl\.regenerate must be one of on-request, never \(got "sometimes"\)$/);
  await refused("openssl", "crl: never\n", /^--ca-config: crl must be a mapping$/);
  await refused("embedded", "renewal: keep\n", /renewal must be one of revoke-superseded, keep-until-expiry/);
  // validity in a unit the adapter cannot count, or beside the adapter's own key
  await refused("openssl", "validity: 36h\n", /validity 36h is not a whole number of days/);
  await refused("openssl", "validity: 400d\nvalidityDays: 400\n", /give validity or validityDays, not both/);
});

test("a module that exports configKeys is held to them: a misspelt key or a wrong type is refused before createAdapter runs", async (t) => {
  const example = "module:conformance/examples/my-adapter.ts";
  await t.throwsAsync(resolveAdapter(example, { url: "http://127.0.0.1:1", hodl: false }, clock), {
    instanceOf: UsageError,
    message: "--ca-config: unknown key hodl for --ca module:conformance/examples/my-adapter.ts (known: url, hold, raToken, operatorToken)",
  });
  await t.throwsAsync(resolveAdapter(example, { url: "http://127.0.0.1:1", hold: "no" }, clock), { instanceOf: UsageError, message: '--ca-config: hold must be a boolean (got "no")' });
  // a configKeys that is no shape is the module's mistake, said in one line
  const badKeys = join(dir, "bad-keys.ts");
  writeFileSync(badKeys, "export const configKeys = { url: 'text' };\nexport function createAdapter() { throw new Error('must not run'); }\n");
  await t.throwsAsync(resolveAdapter(`module:${badKeys}`, {}, clock), { instanceOf: UsageError, message: /configKeys url must be "any", "string", "number", "boolean", a list of strings or a mapping \(got "text"\)/ });
});

test("a user's module gets its YAML keys as they are: it documents its own", async (t) => {
  const mod = join(dir, "echo-module.ts");
  writeFileSync(mod, "export function createAdapter(o) { throw new Error('got ' + JSON.stringify(Object.keys(o).sort())); }\n");
  await t.throwsAsync(resolveAdapter(`module:${mod}`, { anythingAtAll: 1 }, clock), { message: 'got ["anythingAtAll","clock"]' });
});

test("profiles through YAML: OpenSSL extension lines and CFSSL usages reach the certificates", async (t) => {
  const openssl = await resolveAdapter(
    "openssl",
    yaml("openssl-profiles.yaml", "profiles:\n  authentication:\n    keyUsage: ~   # removes the line\n    extendedKeyUsage: clientAuth,emailProtection\n"),
    clock,
  );
  t.teardown(() => openssl.close());
  const a = certInfo((await openssl.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder })).certificatePem);
  t.is(a.keyUsage, undefined);
  t.deepEqual([...(a.extKeyUsage ?? [])], [EKU.clientAuth, EKU.emailProtection]);
  const s = certInfo((await openssl.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "signature", holder })).certificatePem);
  t.deepEqual(s.keyUsage?.names, ["digitalSignature", "nonRepudiation"]); // the other profile keeps its defaults

  const cfssl = await resolveAdapter("cfssl", yaml("cfssl-usages.yaml", 'usages:\n  authentication: ["digital signature", "client auth", "email protection"]\n'), clock);
  t.teardown(() => cfssl.close());
  const c = certInfo((await cfssl.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder })).certificatePem);
  t.deepEqual([...(c.extKeyUsage ?? [])].sort(), [EKU.clientAuth, EKU.emailProtection].sort());
});
