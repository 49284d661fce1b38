import test from "ava";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CARDLOOP_VERSION } from "./version.js";

test("the version reports carry is package.json's", (t) => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
  t.is(CARDLOOP_VERSION, pkg.version);
});
