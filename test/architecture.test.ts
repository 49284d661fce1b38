import test from "ava";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname, sep } from "node:path";

// DESIGN.md: dependencies point down the diagram only; a cycle is a bug.
const ALLOWED: Record<string, string[]> = {
  core: [],
  policies: ["core"],
  pki: ["core"],
  simulator: ["core", "pki"],
  scenarios: ["core", "policies", "pki", "simulator", "reports"],
  conformance: ["core", "policies", "pki", "simulator", "scenarios", "reports"],
  reports: ["core"],
  dashboard: ["core", "reports"],
  cli: ["core", "policies", "pki", "simulator", "scenarios", "conformance", "reports", "dashboard"],
};

const root = resolve(import.meta.dirname, "..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

function component(file: string): string {
  return relative(root, file).split(sep)[0];
}

const IMPORT = /(?:^|\s)(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

test("every component imports only the components below it", (t) => {
  const violations: string[] = [];
  let edges = 0;
  for (const comp of Object.keys(ALLOWED)) {
    let files: string[];
    try {
      files = sources(join(root, comp));
    } catch {
      continue; // a component that has no folder yet
    }
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2];
        const target = component(resolve(dirname(file), spec));
        edges++;
        if (target === comp || target === "node_modules") continue;
        if (!ALLOWED[comp].includes(target)) violations.push(`${relative(root, file)} imports ${target} (${spec})`);
      }
    }
  }
  t.true(edges > 50, "the import scan found the project's imports");
  t.deepEqual(violations, []);
});

test("simulator's parts do not import upward: lock stands lowest (card and ca use it), card and reader below terminal, ca and trace", (t) => {
  const order = ["lock", "card", "reader", "ca", "terminal", "trace"];
  const allowed: Record<string, string[]> = { lock: [], card: ["lock"], reader: ["card"], ca: ["lock"], terminal: ["card", "reader", "ca"], trace: ["card", "reader"] };
  const violations: string[] = [];
  for (const part of order) {
    for (const file of sources(join(root, "simulator", part))) {
      for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
        const target = resolve(dirname(file), m[1] ?? m[2]);
        const rel = relative(join(root, "simulator"), target).split(sep);
        if (rel[0] === ".." || rel.length < 2 || rel[0] === part) continue;
        if (!allowed[part].includes(rel[0])) violations.push(`${relative(root, file)} imports simulator/${rel[0]}`);
      }
    }
  }
  t.deepEqual(violations, []);
});

/** A component's public face is its index.ts; simulator's parts are components of their own. */
function unitOf(file: string): string {
  const parts = relative(root, file).split(sep);
  return parts[0] === "simulator" && parts.length > 2 ? `simulator/${parts[1]}` : parts[0];
}

test("components import one another only through their index.ts (or browser.ts, their node-free face)", (t) => {
  const violations: string[] = [];
  for (const comp of Object.keys(ALLOWED)) {
    let files: string[];
    try {
      files = sources(join(root, comp));
    } catch {
      continue;
    }
    for (const file of files) {
      for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
        const target = resolve(dirname(file), m[1] ?? m[2]);
        const from = unitOf(file);
        const to = unitOf(target);
        if (from === to || to === "node_modules") continue;
        // browser.ts: a component's second face, what of it runs in a browser (no node: module), for the dashboard's page.
        const faces = ["index", "browser"].flatMap((f) => [join(root, to, `${f}.js`), join(root, to, `${f}.ts`)]);
        if (!faces.includes(target)) violations.push(`${relative(root, file)} imports ${relative(root, target)} (use ${to}/index.ts)`);
      }
    }
  }
  t.deepEqual(violations, []);
});

const PRODUCTION = ["core", "policies", "pki", "simulator", "conformance", "scenarios", "reports", "dashboard", "cli"];
const productionFiles = () => PRODUCTION.flatMap((c) => {
  try {
    return sources(join(root, c));
  } catch {
    return [];
  }
});

// pki/README.md, "Second opinions": pki/ reads and writes every PKI structure; these
// libraries only check it, in tests and benchmarks. No production file may use them.
const SECOND_OPINIONS = /from\s+["'](asn1js|pkijs|@peculiar\/x509)["']|import\(\s*["'](asn1js|pkijs|@peculiar\/x509)["']\s*\)/;

test("no production module imports asn1js, pkijs or @peculiar/x509; none outside pki/ parses certificates with node:crypto", (t) => {
  const files = productionFiles();
  t.true(files.length > 100, "the scan found the production sources");
  const libraries = files.filter((f) => SECOND_OPINIONS.test(readFileSync(f, "utf8"))).map((f) => relative(root, f));
  t.deepEqual(libraries, []);
  const x509 = files.filter((f) => component(f) !== "pki" && /\bX509Certificate\b/.test(readFileSync(f, "utf8"))).map((f) => relative(root, f));
  t.deepEqual(x509, []);
});

// pki/README.md: pki/ is the one place that reads and writes DER. Its reader and
// writer are not for other components: they ask pki's views and builders instead.
const DER_INTERNALS = new Set(["DerReader", "readOne", "readTlv", "Tag", "decodeOid", "DerWriter"]);
const NAMED_IMPORT = /(?:^|\s)(?:import|export)\s+(?:type\s+)?\{([^}]*)\}\s*from\s+["'](\.[^"']+)["']/g;
const NAMESPACE_IMPORT = /(?:^|\s)import\s+\*\s+as\s+(\w+)\s+from\s+["'](\.[^"']+)["']/g;

test("no production file outside pki/ imports pki's DER reader or writer", (t) => {
  const violations: string[] = [];
  let pkiImports = 0;
  for (const file of productionFiles()) {
    if (component(file) === "pki") continue;
    const text = readFileSync(file, "utf8");
    const fromPki = (spec: string) => component(resolve(dirname(file), spec)) === "pki";
    for (const m of text.matchAll(NAMED_IMPORT)) {
      if (!fromPki(m[2])) continue;
      pkiImports++;
      for (const item of m[1].split(",")) {
        const name = item.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0];
        if (DER_INTERNALS.has(name)) violations.push(`${relative(root, file)} imports ${name}`);
      }
    }
    for (const m of text.matchAll(NAMESPACE_IMPORT)) {
      if (!fromPki(m[2])) continue;
      pkiImports++;
      for (const name of DER_INTERNALS) if (new RegExp(`\\b${m[1]}\\.${name}\\b`).test(text)) violations.push(`${relative(root, file)} uses ${m[1]}.${name}`);
    }
  }
  t.true(pkiImports > 20, "the scan found the imports of pki");
  t.deepEqual(violations, []);
});

test("no production file is over 450 lines unless its first comment says why", (t) => {
  // The convention: such a file's first comment contains "over 450 lines" and the reason.
  const long = productionFiles()
    .map((f) => ({ f, text: readFileSync(f, "utf8") }))
    .filter(({ text }) => text.split("\n").length > 450)
    .filter(({ text }) => !/^(?:import[^\n]*\n|\s)*(?:\/\/[^\n]*over 450 lines|\/\*\*?[\s\S]*?over 450 lines[\s\S]*?\*\/)/.test(text))
    .map(({ f }) => relative(root, f));
  t.deepEqual(long, []);
});
