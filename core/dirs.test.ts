import test from "ava";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DirectoryError, makeDirs } from "./dirs.js";

test("makeDirs makes missing parents with the mode, and accepts an existing directory", (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-dirs-"));
  try {
    const deep = path.join(root, "a", "b", "c");
    makeDirs(deep, 0o700);
    for (const d of [path.join(root, "a"), path.join(root, "a", "b"), deep]) {
      t.true(fs.statSync(d).isDirectory());
      t.is(fs.statSync(d).mode & 0o777, 0o700 & ~process.umask());
    }
    t.notThrows(() => makeDirs(deep));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("makeDirs: a file in the way, or a parent that refuses children, is an error naming the path (no endless loop)", (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-dirs-"));
  try {
    const file = path.join(root, "file");
    fs.writeFileSync(file, "");
    const inTheWay = t.throws(() => makeDirs(path.join(file, "sub")), { instanceOf: DirectoryError });
    t.regex(inTheWay.message, /file exists and is not a directory/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  // procfs refuses with ENOENT: node's recursive mkdirSync spins on it for ever
  const proc = t.throws(() => makeDirs("/proc/cardloop-no-such/x"), { instanceOf: DirectoryError });
  t.regex(proc.message, /cannot create directory \/proc\/cardloop-no-such\/x: ENOENT on \/proc\/cardloop-no-such/);
});
