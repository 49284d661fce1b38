import test from "ava";
import { build } from "esbuild";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_POLICY } from "../core/policy.js";
import { BROWSER_BUNDLE, bundlePage, pageAssets } from "./assets.js";

const PAGE = fileURLToPath(new URL("./page/", import.meta.url));

function pageSources(dir = PAGE): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return pageSources(p);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [p] : [];
  });
}

test("the page's files: index.html, the bundle, the stylesheet and the favicon, built once per process", async (t) => {
  const assets = await pageAssets();
  t.deepEqual([...assets.keys()].sort(), ["/", "/assets/app.css", "/assets/app.js", "/assets/favicon.svg"]);
  t.is(assets.get("/")?.type, "text/html; charset=utf-8");
  t.is(assets.get("/assets/app.js")?.type, "text/javascript; charset=utf-8");
  t.is(assets.get("/assets/app.css")?.type, "text/css; charset=utf-8");
  t.is(assets.get("/assets/favicon.svg")?.type, "image/svg+xml");
  t.true(Buffer.isBuffer(assets.get("/assets/app.js")?.body));
  t.is(await pageAssets(), assets, "cached: the second call builds nothing");
});

test("the bundle is one self-contained module with chart.js inside, and it reaches nothing but its own origin", async (t) => {
  const js = (await pageAssets()).get("/assets/app.js")!.body.toString("utf8");
  t.true(js.length > 50_000, "chart.js is bundled in");
  // t.false over t.notRegex: a failure must not print 200 kB of minified code
  t.deepEqual(js.match(/.{0,40}https?:\/\/.{0,40}/g) ?? [], [], "no web address to fetch (licence banners keep theirs without a scheme)");
  t.true(js.includes("Chart.js v4"), "chart.js's licence banner is kept");
  t.deepEqual(js.match(/.{0,40}(\bfetch\(|XMLHttpRequest|EventSource|sendBeacon|importScripts).{0,40}/g) ?? [], [], "its only traffic is the websocket");
  t.regex(js.slice(js.indexOf('"wss":"ws"'), js.indexOf('"wss":"ws"') + 40), /^"wss":"ws"\}:\/\/\$\{\w+\.host\}\/ws`/, "the websocket is the page's own host's /ws");
  t.deepEqual((await bundlePage()).imports, [], "no import of anything else: everything is in the bundle");
  const css = (await pageAssets()).get("/assets/app.css")!.body.toString("utf8");
  t.notRegex(css, /@import|url\(|https?:\/\//, "the stylesheet loads nothing (no fonts from a CDN)");
});

test("index.html has no inline script, no inline style and no style or event-handler attribute: the CSP allows none", async (t) => {
  const html = (await pageAssets()).get("/")!.body.toString("utf8");
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  t.is(scripts.length, 1);
  t.regex(scripts[0][1], /type="module"/);
  t.regex(scripts[0][1], /src="\/assets\/app\.js"/);
  t.is(scripts[0][2].trim(), "", "the script tag has no body");
  t.regex(html, /<link rel="stylesheet" href="\/assets\/app\.css">/);
  t.notRegex(html, /<style\b/i);
  t.notRegex(html, /\sstyle\s*=/i);
  t.notRegex(html, /\son[a-z]+\s*=/i);
  t.notRegex(html, /https?:\/\/|javascript:/i);
  t.regex(html, /id="connection" data-state="closed"/);
});

test("the page's code builds DOM from text, never markup, and never sets a style attribute", (t) => {
  const offenders = pageSources()
    .map((f) => ({ f: relative(PAGE, f), text: readFileSync(f, "utf8") }))
    .filter(({ text }) => /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|setAttribute\(\s*["']style["']|\beval\(|new Function\(/.test(text))
    .map(({ f }) => f);
  t.true(pageSources().length > 10, "the scan found the page's modules");
  t.deepEqual(offenders, []);
});

test("the bundle takes the reports' models and core's files without a node: module", async (t) => {
  const { js, inputs } = await bundlePage();
  for (const model of ["reports/model.ts", "reports/certify-model.ts", "reports/qualify-model.ts", "reports/certify-wording.ts", "dashboard/protocol.ts"]) {
    t.true(inputs.includes(model), `${model} is in the bundle`);
  }
  t.true(inputs.some((i) => i.startsWith("node_modules/chart.js/")), "chart.js comes from node_modules");
  t.deepEqual(inputs.filter((i) => i.startsWith("node:") || i === "core/index.ts" || i === "reports/index.ts"), []);
  t.false(/["']node:[a-z]/.test(js));
});

/** A string literal holding exactly `value`, in any of JavaScript's quotes (a bare digit run, as in "0123456789ABCDEF", is not one). */
function literal(value: string): RegExp {
  const v = value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(["'\`])${v}\\1`);
}

test("the bundle holds no default PIN or PUK: the lifecycle policy stays out of the page", async (t) => {
  const { js, inputs } = await bundlePage();
  const secrets = { transportPin: DEFAULT_POLICY.transportPin, puk: DEFAULT_POLICY.puk };
  t.false(inputs.includes("core/policy.ts"), "core/policy.ts is not in the bundle");
  for (const [name, value] of Object.entries(secrets)) {
    t.true(value.length >= 4, `${name} is a value to look for`);
    t.false(literal(value).test(js), `the default ${name} is not in the bundle`);
  }
  // the search finds the policy where it is: bundled as the page is bundled, both values are there to see
  const withPolicy = await build({
    ...BROWSER_BUNDLE,
    stdin: { contents: `export { DEFAULT_POLICY } from ${JSON.stringify(fileURLToPath(new URL("../core/policy.ts", import.meta.url)))};`, loader: "ts", resolveDir: PAGE },
    logLevel: "silent",
  });
  const policyJs = withPolicy.outputFiles[0]?.text ?? "";
  for (const [name, value] of Object.entries(secrets)) t.true(literal(value).test(policyJs), `the search sees the default ${name} in a bundle that has it`);
});
