/**
 * The README's picture of the dashboard, taken as a user would see it:
 *
 *   node --import=tsx dashboard/screenshot.ts [--out dashboard/screenshot.png] [--runs-list FILE]
 *
 * starts a dashboard on a temporary runs directory, publishes a `cardloop
 * demo` run and a `cardloop certify --ca embedded` run to it (the drivers
 * started as commands, each in its own process group), opens the runs list
 * and then the demo's run in Debian's chromium at 1280x900, and writes the
 * run view as a PNG (and the runs list too with --runs-list). A script, not
 * part of the command: nothing imports it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateToken } from "./security.js";
import { startDashboard, type Dashboard } from "./server.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const VIEWPORT = { width: 1280, height: 900 };

interface Args {
  out: string;
  runsList?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { out: join(ROOT, "dashboard", "screenshot.png") };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if ((argv[i] === "--out" || argv[i] === "--runs-list") && value !== undefined) {
      if (argv[i] === "--out") args.out = resolve(value);
      else args.runsList = resolve(value);
      i++;
    } else {
      throw new Error(`usage: node --import=tsx dashboard/screenshot.ts [--out FILE.png] [--runs-list FILE.png] (not ${argv[i]})`);
    }
  }
  return args;
}

/** Runs `cardloop ARGS --dashboard URL` in its own process group to its end; the run's id on the dashboard. */
function publish(args: string[], dashboard: Dashboard): Promise<string> {
  return new Promise((done, fail) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CARDLOOP_DASHBOARD_TOKEN: dashboard.token };
    delete env.CARDLOOP_DASHBOARD;
    const child = spawn(process.execPath, [join(ROOT, "bin", "cardloop.js"), ...args, "--dashboard", dashboard.url], { cwd: ROOT, env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    // This script stopped (an error, ^C): the driver and whatever it started stop with it.
    const kill = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    };
    process.once("exit", kill);
    child.once("error", fail);
    child.once("close", (code) => {
      process.off("exit", kill);
      const id = /^dashboard: \S+#\/run\/(\S+)$/m.exec(stderr)?.[1];
      // certify exits 1 when the CA fails a MUST: still a run to show; anything else is this script's problem
      if (id && (code === 0 || code === 1)) done(id);
      else fail(new Error(`cardloop ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!CHROMIUM) throw new Error("chromium is required (Debian package chromium)");
  const { chromium } = await import("playwright-core");
  const temp = mkdtempSync(join(tmpdir(), "cardloop-screenshot-"));
  const dashboard = await startDashboard({ port: 0, runsDir: join(temp, "runs"), token: generateToken() });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const demo = await publish(["demo", "--out", join(temp, "demo")], dashboard);
    const certify = await publish(["certify", "--ca", "embedded", "--quiet", "--out", join(temp, "certify")], dashboard);
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.on("pageerror", (err) => process.stderr.write(`page error: ${err.message}\n`));

    await page.goto(dashboard.url);
    for (const id of [demo, certify]) await page.waitForSelector(`tr[data-run-id="${id}"]:not([data-verdict="running"])`, { timeout: 30_000 });
    await settle(page);
    if (args.runsList) await page.screenshot({ path: args.runsList });

    const events = dashboard.store.get(demo)?.events ?? 0;
    await page.goto(`${dashboard.url}#/run/${demo}`);
    await page.waitForSelector(`section#run[data-events="${events}"]:not([data-verdict="running"])`, { timeout: 30_000 });
    await page.waitForFunction(`[...document.querySelectorAll("canvas[data-chart]")].some((c) => Chart.getChart(c))`, undefined, { timeout: 30_000 });
    await settle(page);
    await page.screenshot({ path: args.out });
    process.stdout.write(`${args.out}${args.runsList ? ` ${args.runsList}` : ""}\n`);
  } finally {
    await browser.close();
    await dashboard.close();
    rmSync(temp, { recursive: true, force: true });
  }
}

/** The page rebuilds at most 4 times a second and chart.js animates in: wait until two frames 300 ms apart are alike. */
async function settle(page: import("playwright-core").Page): Promise<void> {
  let before = await page.screenshot();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(300);
    const now = await page.screenshot();
    if (now.equals(before)) return;
    before = now;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`screenshot: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
