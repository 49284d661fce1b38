import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemClock, UsageError } from "../core/index.js";
import { loadAdapter, readCaConfig } from "../conformance/adapters/load.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { certInfo, makeCsr } from "../conformance/pkix.js";

const clock = new SystemClock();
const dir = mkdtempSync(join(tmpdir(), "cardloop-adapter-load-"));
const holder = { id: "h", name: "Dana", email: "dana@example.test" };
const days = (a: Date, b: Date) => Math.round((b.getTime() - a.getTime()) / 86_400_000);

test("--ca-config YAML reaches the adapter: validity for openssl (days) and cfssl (hours)", async (t) => {
  const cfg = join(dir, "short.yaml");
  writeFileSync(cfg, "# a CA issuing 400-day certificates\nvalidity: 400d\n");
  const config = readCaConfig(cfg);
  t.deepEqual(config, { validity: "400d" });
  for (const spec of ["openssl", "cfssl"]) {
    const ca = await loadAdapter(spec, config, clock);
    try {
      const c = await ca.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder });
      t.is(days(c.notBefore, c.notAfter), 400, spec);
    } finally {
      await ca.close();
    }
  }
});

test("embedded, http://URL and module:PATH load; the module gets the YAML options", async (t) => {
  const embedded = await loadAdapter("embedded", {}, clock);
  t.is(embedded.name, "embedded");
  await embedded.close();

  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await inner.close();
  });
  const http = await loadAdapter(server.url, {}, clock);
  t.is(http.name, `http ${server.url}`);
  t.is((await http.anchors()).length, 1);
  await http.close();

  const mod = await loadAdapter("module:conformance/examples/my-adapter.ts", { url: server.url, hold: false }, clock);
  t.is(mod.name, `my-ca ${server.url}`);
  t.false(mod.capabilities().hold);
  const c = await mod.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "signature", holder });
  t.is((await mod.status(c.serial)).status, "good");
  await mod.close();
});

test("embedded with serve: true answers at the URLs its certificates name", async (t) => {
  const ca = await loadAdapter("embedded", { serve: true }, clock);
  t.teardown(() => ca.close());
  const c = await ca.issue({ csrPem: (await makeCsr("Dana")).pem, profile: "authentication", holder });
  const info = certInfo(c.certificatePem);
  t.regex(info.crlUrls[0], /^http:\/\/127\.0\.0\.1:\d+\//);
  const res = await fetch(info.crlUrls[0]);
  t.is(res.status, 200);
  t.is(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(await ca.crl())), 0);
});

test("unusable targets and configs are usage errors", async (t) => {
  await t.throwsAsync(loadAdapter("ldap://ca", {}, clock), { instanceOf: UsageError, message: /--ca must be embedded, openssl, cfssl/ });
  const empty = join(dir, "empty-module.ts");
  writeFileSync(empty, "export const nothing = 1;\n");
  await t.throwsAsync(loadAdapter(`module:${empty}`, {}, clock), { instanceOf: UsageError, message: /exports no createAdapter/ });
  const partial = join(dir, "partial-module.ts");
  writeFileSync(partial, "export function createAdapter() { return { name: 'half', issue() {} }; }\n");
  await t.throwsAsync(loadAdapter(`module:${partial}`, {}, clock), { instanceOf: UsageError, message: /lacks capabilities\(\)/ });
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "validity: [\n");
  t.throws(() => readCaConfig(bad), { instanceOf: UsageError, message: /not valid YAML/ });
  await t.throwsAsync(loadAdapter("openssl", { validity: "three years" }, clock), { instanceOf: UsageError, message: /validity/ });
  t.throws(() => readCaConfig(join(dir, "missing.yaml")), { instanceOf: UsageError });
});
