import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import test from "ava";
import { chromium } from "playwright-core";

const ROOT = resolve(import.meta.dirname, "..");
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

/**
 * The HTML report opened the way a person opens it: a real browser (Debian's
 * chromium, headless) with every network request refused. The charts must
 * draw, nothing may be fetched, and the page must not log an error.
 */
test("the HTML report opens offline in a real browser and draws its charts", async (t) => {
  if (!CHROMIUM) return t.fail("chromium is required (Debian package chromium, listed in .ci/apt/lifecycle.txt)");
  const out = mkdtempSync(join(tmpdir(), "cardloop-html-"));
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "cardloop.js"), "run", join(ROOT, "scenarios/library/03-employee-departure.yaml"), join(ROOT, "scenarios/library/10-pin-lockout-and-puk-unblock.yaml"), "--out", out], {
    encoding: "utf8",
  });
  t.is(r.status, 0, r.stderr);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const context = await browser.newContext({ offline: true });
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on("request", (req) => {
      if (!req.url().startsWith("file:")) requests.push(req.url());
    });
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(msg.text());
    });
    await page.route(/^(?!file:)/, (route) => route.abort());
    await page.goto(pathToFileURL(join(out, "report.html")).href, { waitUntil: "load" });

    t.deepEqual(requests, []);
    t.deepEqual(errors, []);
    // chart.js ran and attached a chart to each canvas, with one bar group per scenario.
    // (A string: the page's DOM types are not in this project's TypeScript lib.)
    const charts = await page.evaluate(`[...document.querySelectorAll("canvas")].map((c) => Chart.getChart(c)?.data.labels ?? null)`);
    t.deepEqual(charts, [
      ["employee departure revoked by the legal representative", "PIN lockout and PUK unblock"],
      ["employee departure revoked by the legal representative", "PIN lockout and PUK unblock"],
    ]);
    // A timeline lane per card and a row per step.
    t.deepEqual(await page.locator("text.lane").allTextContents(), ["chloe-card", "dario-card", "lena-card"]);
    t.is(await page.locator("table.steps tbody tr").count(), 8 + 10);
  } finally {
    await browser.close();
  }
});
