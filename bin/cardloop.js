#!/usr/bin/env node
// The `cardloop` command. It runs the build in dist/ (bin/build.js, made by
// `make setup`): JavaScript starts in a fraction of the time tsx needs to
// compile the sources. While the build is missing, or any source it was made
// from is newer (an edit, a checkout), it runs the sources through tsx
// instead, so the command never runs stale code.
import { fileURLToPath } from "node:url";
import { buildIsCurrent } from "./build-state.js";

if (buildIsCurrent(fileURLToPath(new URL("../", import.meta.url)))) {
  // Stack traces are shown only with CARDLOOP_DEBUG; then they name the .ts
  // sources (reading the maps costs every start ~15% otherwise).
  if (process.env.CARDLOOP_DEBUG) process.setSourceMapsEnabled(true);
  await import("../dist/main.js");
} else {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("cardloop: no current build in dist/ and no tsx to run the sources: run `make setup`\n");
    process.exit(2);
  }
  if (process.stderr.isTTY) process.stderr.write("cardloop: dist/ is missing or older than the sources; running them through tsx (`make setup` rebuilds)\n");
  tsx.register();
  await import("../cli/main.ts");
}
