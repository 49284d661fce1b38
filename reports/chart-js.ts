import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

let chartSource: string | undefined;

/**
 * chart.js's UMD bundle, made safe to inline in every HTML report (one
 * self-contained file that opens from a CI artifact with no network): its
 * banner's web addresses lose their scheme (nothing in the file may point at
 * the network) and no "</script" can close the tag early.
 */
export function chartJs(): string {
  if (chartSource === undefined) {
    // The package's exports map hides dist/chart.umd.js: find it beside the CommonJS entry.
    const path = join(dirname(createRequire(import.meta.url).resolve("chart.js")), "chart.umd.js");
    chartSource = readFileSync(path, "utf8")
      .replace(/https?:\/\//g, "")
      .replace(/<\/script/gi, "<\\/script");
  }
  return chartSource;
}
