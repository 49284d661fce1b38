import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/**
 * The page's files as the server sends them (URL path -> body and type):
 * index.html, the stylesheet, the favicon, and dashboard/page/main.ts bundled
 * by esbuild for the browser with chart.js from node_modules inside, so the
 * page fetches nothing but its own origin. Built once per process.
 *
 * The page is found beside this file through import.meta.url, which
 * bin/build.js rewrites to this source file's URL in dist/ too.
 */

export interface PageAsset {
  body: Buffer;
  type: string;
}

const PAGE_DIR = new URL("./page/", import.meta.url);

let assets: Promise<Map<string, PageAsset>> | undefined;

export function pageAssets(): Promise<Map<string, PageAsset>> {
  assets ??= loadAssets().catch((err: unknown) => {
    // a failed build is not cached: the next request tries again (after the file is fixed)
    assets = undefined;
    throw err;
  });
  return assets;
}

export interface PageBundle {
  js: string;
  /** The files that went in, relative to the working directory (what the tests check: no node: module among them). */
  inputs: string[];
  /** What the bundle still imports at run time: nothing, it is self-contained. */
  imports: string[];
}

/** How the page is bundled: one minified ES module for the browser, in memory. */
export const BROWSER_BUNDLE = { bundle: true, write: false, format: "esm", platform: "browser", target: "es2022", minify: true } as const;

/** main.ts and everything it imports, as one ES module for the browser. */
export async function bundlePage(): Promise<PageBundle> {
  const result = await build({
    ...BROWSER_BUNDLE,
    entryPoints: [fileURLToPath(new URL("main.ts", PAGE_DIR))],
    metafile: true,
    // the licence banners (chart.js, @kurkle/color) stay, their web addresses without the scheme: nothing in the page points at the network
    legalComments: "inline",
    logLevel: "silent",
  });
  const js = result.outputFiles[0]?.text ?? "";
  const banners = js.replace(/\/\*![\s\S]*?\*\//g, (banner) => banner.replace(/https?:\/\//g, ""));
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  return { js: banners, inputs: Object.keys(result.metafile.inputs), imports };
}

async function loadAssets(): Promise<Map<string, PageAsset>> {
  const file = (name: string) => readFile(new URL(name, PAGE_DIR));
  const [html, css, icon, bundle] = await Promise.all([file("index.html"), file("style.css"), file("favicon.svg"), bundlePage()]);
  return new Map<string, PageAsset>([
    ["/", { body: html, type: "text/html; charset=utf-8" }],
    ["/assets/app.js", { body: Buffer.from(bundle.js, "utf8"), type: "text/javascript; charset=utf-8" }],
    ["/assets/app.css", { body: css, type: "text/css; charset=utf-8" }],
    ["/assets/favicon.svg", { body: icon, type: "image/svg+xml" }],
  ]);
}
