import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

// Benchmarks share the PC/SC harness with the tests through harness/, never through test/.
// Every way a module can reach another: import/export ... from, a bare import, import().
const FROM_TEST = /(?:\bfrom\s*|\bimport\s*|\bimport\s*\(\s*)["'](?:\.\/)?\.\.\/test\//;

test("no benchmark imports from test/", (t) => {
  const offenders = readdirSync(import.meta.dirname)
    .filter((f) => f.endsWith(".ts") && f !== basename(import.meta.filename)) // this file quotes the forms it looks for
    .filter((f) => FROM_TEST.test(readFileSync(join(import.meta.dirname, f), "utf8")));
  t.deepEqual(offenders, []);
});

test("the check sees every form of import and re-export, and nothing else", (t) => {
  for (const line of [
    'import { x } from "../test/support/x.js";',
    'import type { X } from "../test/support/x.js";',
    'export { x } from "../test/support/x.js";',
    'export * from "../test/support/x.js";',
    'import "../test/support/x.js";',
    'const m = await import("../test/support/x.js");',
    "const m = await import( '../test/support/x.js' );",
  ]) {
    t.true(FROM_TEST.test(line), line);
  }
  for (const line of ['import { x } from "../harness/index.js";', 'const p = "../test/";', "// see ../test/hw-pcsc.test.ts"]) {
    t.false(FROM_TEST.test(line), line);
  }
});
