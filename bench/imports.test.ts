import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Benchmarks share the PC/SC harness with the tests through harness/, never through test/.
test("no benchmark imports from test/", (t) => {
  const offenders = readdirSync(import.meta.dirname)
    .filter((f) => f.endsWith(".ts"))
    .filter((f) => /from\s+["']\.\.\/test\//.test(readFileSync(join(import.meta.dirname, f), "utf8")));
  t.deepEqual(offenders, []);
});
