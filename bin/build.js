#!/usr/bin/env node
// Builds the `cardloop` command into dist/ (git-ignored), which bin/cardloop.js
// runs: tsx compiles every module at each start (~0.5 s), the build does not.
// Tests and development still run the sources through tsx; `tsc --noEmit` is
// the type check. Run by `make setup` on every call (it takes well under 2 s).
//
// One ESM bundle with code splitting: each subcommand is its own chunk, so
// `cardloop apdu` loads neither the CA's SQLite nor the validator; npm
// packages stay in node_modules. Two things keep it behaving as the sources do:
//  - code that finds files next to its own source (import.meta.url: the
//    scenario library, the shipped policies, chart.js through createRequire)
//    sees its source file's URL, not the chunk's;
//  - the component faces (each index.ts, simulator/ca/api.ts) are entries of
//    their own, so a user's TypeScript adapter module loaded by `certify --ca
//    module:PATH` shares the build's classes (CaError is judged by instanceof)
//    instead of a second copy compiled by tsx (see
//    conformance/adapters/user-module.ts).
import { build } from "esbuild";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILD_STATE_FILE, writeBuildState } from "./build-state.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// `--out DIR` builds elsewhere (tests do, so as not to pull dist/ from under a running command)
const outAt = process.argv.indexOf("--out");
const OUT = outAt > 0 ? resolve(process.argv[outAt + 1]) : join(ROOT, "dist");

/** The programs: the command itself, and the module hooks a user's adapter module is loaded with. Source (relative to the root) -> output name. */
const PROGRAMS = { "cli/main.ts": "main", "conformance/adapters/source-hooks.ts": "source-hooks" };

/**
 * The component faces, each an entry of its own (see above): every top-level
 * folder's index.ts, those of the simulator's components, and the CA's API.
 * Found on disk, so a component added or removed needs no edit here.
 */
function componentFaces() {
  const dirsIn = (dir) =>
    readdirSync(join(ROOT, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith(".") && d.name !== "node_modules")
      .map((d) => (dir === "." ? d.name : `${dir}/${d.name}`));
  const faces = [...dirsIn("."), ...dirsIn("simulator")].map((dir) => `${dir}/index.ts`).filter((f) => existsSync(join(ROOT, f)));
  faces.push("simulator/ca/api.ts");
  return Object.fromEntries(faces.map((src) => [src, src.replace(/\.ts$/, "").replaceAll("/", "-")]));
}
const FACES = componentFaces();
const ENTRIES = { ...PROGRAMS, ...FACES };

/** What the build tells the code it contains: which source each face was built from. */
const manifest = {
  dist: relative(ROOT, OUT).split(sep).join("/"),
  hooks: `${PROGRAMS["conformance/adapters/source-hooks.ts"]}.js`,
  faces: Object.fromEntries(Object.entries(FACES).map(([src, out]) => [src, `${out}.js`])),
};

/**
 * Every output file sits directly in the output folder, so a module's source
 * is at one relative URL (`../scenarios/runner.ts` from dist/) from whichever
 * chunk it lands in: import.meta.url becomes that URL.
 */
const sourceLocations = {
  name: "source-locations",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("import.meta")) return undefined;
      const rel = relative(OUT, args.path).split(sep).join("/");
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      const path = (p) => `process.getBuiltinModule("node:path").join(import.meta.dirname, ${JSON.stringify(p)})`;
      const errors = [];
      const contents = text.replace(/\bimport\.meta\.([A-Za-z_$][\w$]*)/g, (whole, member) => {
        if (member === "url") return url;
        if (member === "filename") return path(rel);
        if (member === "dirname") return path(dirname(rel));
        errors.push({ text: `import.meta.${member} would see dist/, not ${relative(ROOT, args.path)}: use import.meta.url` });
        return whole;
      });
      return { contents, loader: "ts", errors };
    });
  },
};

const started = performance.now();
const builtAt = Date.now();
if (existsSync(OUT) && readdirSync(OUT).length > 0 && !existsSync(join(OUT, BUILD_STATE_FILE))) {
  console.error(`bin/build.js: ${OUT} is not empty and holds no earlier build: not replacing it`);
  process.exit(2);
}
rmSync(OUT, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: ROOT,
  entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([src, out]) => [out, join(ROOT, src)])),
  outdir: OUT,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: true,
  // error names and instanceof-free checks read constructor names: keep them as written
  keepNames: true,
  define: { CARDLOOP_BUILD: JSON.stringify(manifest) },
  plugins: [sourceLocations],
  metafile: true,
  logLevel: "warning",
});
// bin/cardloop.js runs the build only while none of these is newer than it
const inputs = Object.keys(metafile.inputs).filter((f) => !f.startsWith("node_modules/") && !f.startsWith("<"));
writeBuildState(OUT, { builtAt, inputs });
if (process.argv.includes("--verbose")) console.log(`dist/ built in ${Math.round(performance.now() - started)} ms`);
