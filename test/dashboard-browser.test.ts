import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import type { Browser, Page } from "playwright-core";
import { readRunLog } from "../core/index.js";
import { DashboardPublisher } from "../dashboard/index.js";
import { retryOnPortInUse } from "../harness/processes.js";
import { buildCertifyReport } from "../reports/certify-model.js";
import {
  attr,
  CHROMIUM,
  demoRunLog,
  holdFinalBatch,
  launchChromium,
  lineCount,
  newToken,
  NO_CHROMIUM,
  runDriver,
  startDashboardProcess,
  startDriver,
  tempDir,
  until,
  watchPage,
  type DashboardProcess,
} from "./support/dashboard.js";

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core),
 * end to end: `cardloop dashboard` and the drivers started as a user starts
 * them, the page watched as a user watches it. Serial: each test starts a
 * dashboard, drivers and pages, and this machine has two cores.
 */

let browser: Browser | undefined;
test.before(async () => {
  if (CHROMIUM) browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

/** Its process, like every process and directory a test starts, goes when the test ends (test/support/dashboard.ts). */
async function dashboard(t: ExecutionContext, opts: { runsDir?: string; token?: string; port?: number } = {}): Promise<DashboardProcess> {
  return startDashboardProcess(t, { runsDir: opts.runsDir ?? tempDir(t, "dash-runs"), token: opts.token ?? newToken(), port: opts.port });
}

/** A page in a context of its own, closed when the test ends. */
async function newPage(t: ExecutionContext): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  t.teardown(() => context.close());
  return context.newPage();
}

const SCENARIOS_PASSED = "11/11 scenarios passed";
const CHARTS = `[...document.querySelectorAll("canvas[data-chart]")].map((c) => {
  const chart = Chart.getChart(c);
  if (!chart) return null;
  const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  return { labels: chart.data.labels.length, points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0), painted: pixels.some((v) => v !== 0) };
})`;

test.serial("a page on the runs view sees the demo's run appear live and finish with 11 of 11 passed; the run shows every event and its charts", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  const d = await dashboard(t);
  const page = await newPage(t);
  const watch = await watchPage(page, d.origin);
  await page.goto(d.url);
  await page.waitForSelector('#connection[data-state="open"]');

  // The demo publishes through a door that holds its final batch: the run stays live on the dashboard
  // until the row has been seen running, however fast the demo (half a second) or slow the machine.
  const door = await holdFinalBatch(t, d.url);
  const running = page.waitForSelector('tr[data-run-id][data-verdict="running"]', { timeout: 30_000 }).then((row) => row.getAttribute("data-run-id"));
  const out = tempDir(t, "demo-live");
  const demo = startDriver(t, ["demo", "--out", out], door.url, d.token);
  const id = await demo.runId;
  t.is(await running, id, demo.proc.stderr);
  door.release();

  const row = `tr[data-run-id="${id}"]`;
  await page.waitForSelector(`${row}[data-verdict="pass"]`, { timeout: 30_000 });
  t.true((await page.locator(`${row} td.headline`).textContent())!.startsWith(SCENARIOS_PASSED));
  t.is((await demo.proc.wait()).code, 0, demo.proc.stderr);
  t.true(demo.proc.stdout.includes(SCENARIOS_PASSED));

  await page.click(`${row} a`);
  const events = lineCount(join(out, "run.jsonl"));
  await page.waitForSelector(`section#run[data-run-id="${id}"][data-events="${events}"][data-verdict="pass"]`, { timeout: 30_000 });
  t.is(await attr(page, "section#run", "data-kind"), "scenario");
  t.true((await page.locator("[data-headline]").textContent())!.startsWith(SCENARIOS_PASSED));
  // chart.js drew one chart per scenario, with data, in pixels (after the page's next rebuild at most)
  const charts = await until("the charts", async () => {
    const c = (await page.evaluate(CHARTS)) as Array<{ labels: number; points: number; painted: boolean } | null>;
    return c.length === 11 && c.every((x) => x?.painted) ? c : undefined;
  });
  t.true(charts.every((c) => c !== null && c.labels > 0 && c.points === c.labels), JSON.stringify(charts));

  t.deepEqual(watch.errors, []);
  t.deepEqual(await watch.cspViolations(), []);
  t.deepEqual(watch.foreignRequests, []);
  t.deepEqual([...new Set(watch.websockets)], [`ws://127.0.0.1:${d.port}/ws`]);
  t.true(watch.requests.some((u) => u.endsWith("/assets/app.js")));
  // The control: an inline script put in the page is refused by its CSP, and the watch sees the violation.
  await page.evaluate(`{ const s = document.createElement("script"); s.textContent = "window.inlineRan = true"; document.body.append(s); }`);
  t.deepEqual(await until("the violation", async () => ((await watch.cspViolations())?.length ? watch.cspViolations() : undefined)), ["script-src-elem inline"]);
  t.is(await page.evaluate("window.inlineRan ?? false"), false);
});

test.serial("the page reconnects after the dashboard restarts mid-run and loses no event", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  // A driver's publisher in this process, replaying a demo's run log in three parts: the middle one while the dashboard is down.
  const log = await demoRunLog(t);
  const events = readRunLog(log);
  const thirds = [0, Math.floor(events.length / 3), Math.floor((2 * events.length) / 3), events.length];
  const runsDir = tempDir(t, "dash-restart");
  const token = newToken();
  const first = await dashboard(t, { runsDir, token });
  const warnings: string[] = [];
  const publisher = new DashboardPublisher({ url: first.url, token, kind: "scenario", runLog: log, retryMs: 200, warn: (line) => warnings.push(line) });
  t.teardown(() => publisher.close(0).then(() => undefined));
  const held = async (d: DashboardProcess) => {
    const res = await fetch(`${d.url}api/v1/runs/${publisher.id}`);
    return res.ok ? ((await res.json()) as { events: number; verdict: string; dropped: number }) : undefined;
  };
  const write = (part: number) => events.slice(thirds[part], thirds[part + 1]).forEach((e) => publisher.write(e));

  write(0);
  await until("the first part on the dashboard", async () => ((await held(first))?.events === thirds[1] ? true : undefined));
  const page = await newPage(t);
  await page.goto(`${first.url}#/run/${publisher.id}`);
  await page.waitForSelector(`section#run[data-events="${thirds[1]}"][data-verdict="running"]`);
  t.is(await attr(page, "#connection", "data-state"), "open");

  t.is((await first.stop()).code, 0, "the dashboard closes cleanly on SIGTERM");
  await page.waitForSelector('#connection[data-state="closed"]');
  write(1);
  await until("the publisher to find the dashboard down", () => (warnings.length > 0 ? true : undefined));
  t.regex(warnings[0], /unreachable/);

  // On the port it had: another suite may have been given it meanwhile, so a port in use is tried again, a few times.
  const second = await retryOnPortInUse("the dashboard restarted on its port", () => dashboard(t, { runsDir, token, port: first.port }));
  t.is(second.url, first.url);
  await page.waitForSelector('#connection[data-state="open"]', { timeout: 30_000 });
  write(2);
  // What was queued while the dashboard was down is delivered before the last batch says the run is done.
  await until("every event on the dashboard", async () => ((await held(second))?.events === events.length ? true : undefined));
  t.deepEqual(await publisher.close(10_000), { sent: events.length, dropped: 0 });

  await page.waitForSelector(`section#run[data-events="${lineCount(log)}"][data-verdict="pass"]`, { timeout: 30_000 });
  t.like(await held(second), { events: events.length, verdict: "pass", dropped: 0 });
  t.true((await page.locator("[data-headline]").textContent())!.startsWith(SCENARIOS_PASSED));
  t.is(await attr(page, "#connection", "data-state"), "open");
  t.is(warnings.length, 1, warnings.join("\n"));
});

/** What a run's page shows that must be the same for everyone watching it. */
async function runView(page: Page): Promise<Record<string, string | null>> {
  return {
    events: await attr(page, "section#run", "data-events"),
    verdict: await attr(page, "section#run", "data-verdict"),
    kind: await attr(page, "section#run", "data-kind"),
    headline: await page.locator("[data-headline]").textContent(),
    overview: await page.locator("table.overview-table").innerText(),
  };
}

test.serial("two pages at once see the same run: one that followed it from the list while it ran, one opened when it was done", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  const d = await dashboard(t);
  const [a, b] = [await newPage(t), await newPage(t)];
  await a.goto(d.url);
  await a.waitForSelector('#connection[data-state="open"]');
  const out = tempDir(t, "demo-two");
  // The demo's last batch is held on its way until page a has seen the run running, however fast the demo.
  const door = await holdFinalBatch(t, d.url);
  const demo = startDriver(t, ["demo", "--out", out], door.url, d.token);
  const id = await demo.runId;
  await a.click(`tr[data-run-id="${id}"][data-verdict="running"] a`, { timeout: 30_000 });
  await a.waitForSelector(`section#run[data-run-id="${id}"][data-verdict="running"]`, { timeout: 30_000 });
  t.is(await attr(a, "section#run", "data-verdict"), "running", "page a follows the run while it runs");
  door.release();
  t.is((await demo.proc.wait()).code, 0, demo.proc.stderr);
  await b.goto(`${d.url}#/run/${id}`);
  const done = `section#run[data-run-id="${id}"][data-events="${lineCount(join(out, "run.jsonl"))}"][data-verdict="pass"]`;
  await Promise.all([a.waitForSelector(done, { timeout: 30_000 }), b.waitForSelector(done, { timeout: 30_000 })]);
  // the views rebuild at most every 250 ms: both settled on the run's last state
  const seen = await until("both pages settled", async () => {
    const [va, vb] = [await runView(a), await runView(b)];
    return JSON.stringify(va) === JSON.stringify(vb) ? va : undefined;
  });
  t.true(seen.headline!.startsWith(SCENARIOS_PASSED));
  t.is(seen.overview!.match(/\bpass\b/gi)?.length, 11, seen.overview!);
});

test.serial("the link a driver prints, opened before the run's first event, shows the run as it arrives", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  const d = await dashboard(t);
  const events = readRunLog(await demoRunLog(t));
  const publisher = new DashboardPublisher({ url: d.url, token: d.token, kind: "scenario" });
  t.teardown(() => publisher.close(0).then(() => undefined));
  const page = await newPage(t);
  await page.goto(publisher.url);
  await page.waitForSelector('#connection[data-state="open"]');
  for (const e of events) publisher.write(e);
  t.deepEqual(await publisher.close(10_000), { sent: events.length, dropped: 0 });
  try {
    await page.waitForSelector(`section#run[data-events="${events.length}"][data-verdict="pass"]`, { timeout: 15_000 });
  } catch (err) {
    const seen = await page.evaluate(`({ events: document.querySelector("section#run")?.dataset.events, verdict: document.querySelector("section#run")?.dataset.verdict, text: document.querySelector("section#run")?.innerText.slice(0, 300) })`);
    return t.fail(`the page holds ${JSON.stringify(seen)}, not the run's ${events.length} events: ${String(err).split("\n")[0]}`);
  }
  t.true((await page.locator("[data-headline]").textContent())!.startsWith(SCENARIOS_PASSED));
});

/** A page served from another origin (a server of the test's own) that tries the dashboard's websocket and API. */
const FOREIGN_PAGE = (port: number) => `<!doctype html><title>pending</title><script>
const result = { ws: "pending", api: "pending" };
const ws = new WebSocket("ws://127.0.0.1:${port}/ws");
ws.onopen = () => (result.ws = "open");
ws.onmessage = (e) => (result.ws = "message " + String(e.data).slice(0, 40));
ws.onclose = (e) => { if (result.ws === "pending") result.ws = "closed " + e.code; };
fetch("http://127.0.0.1:${port}/api/v1/runs").then((r) => r.text()).then((t) => (result.api = "read " + t.slice(0, 40)), (e) => (result.api = "blocked " + e.name));
window.result = result;
</script>`;

test.serial("a page from another origin cannot open the dashboard's websocket nor read its API", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  const d = await dashboard(t);
  const foreign = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(FOREIGN_PAGE(d.port)));
  await new Promise<void>((resolve) => foreign.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => foreign.close(() => resolve())));
  const page = await newPage(t);
  const attempts: string[] = [];
  page.on("websocket", (ws) => attempts.push(ws.url()));
  await page.goto(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`);
  const result = await until("the foreign page's attempts to end", async () => {
    const r = (await page.evaluate("window.result")) as { ws: string; api: string };
    return r.ws !== "pending" && r.api !== "pending" ? r : undefined;
  });
  t.deepEqual(result, { ws: "closed 1006", api: "blocked TypeError" });
  t.deepEqual(attempts, [`ws://127.0.0.1:${d.port}/ws`], "the browser did try");
});

/** Check ID -> row class of a certify run log, as the reports judge it. */
function classes(runLog: string): Map<string, string> {
  return new Map(buildCertifyReport(readRunLog(runLog)).checks.map((c) => [c.id, c.class]));
}

test.serial("two certify runs picked in the list open side by side, with as many differences as check IDs whose class differs", async (t) => {
  if (!CHROMIUM) return t.fail(NO_CHROMIUM);
  const d = await dashboard(t);
  // The same CA twice, over overlapping checks: as it is, and set to issue for 10 years where the policy allows 3, so
  // ISS-VALIDITY-MAX, in both runs, fails in the second whatever the machine's speed (a timing check would not).
  const [outA, outB, config] = [tempDir(t, "certify-a"), tempDir(t, "certify-b"), join(tempDir(t, "certify-config"), "ca.yaml")];
  writeFileSync(config, "maxValidityYears: 10\n");
  const a = await runDriver(t, ["certify", "--ca", "embedded", "--only", "ISS-VALIDITY-MAX,ISS-NOT-CA,CRL-NUMBER", "--out", outA, "--quiet"], d.url, d.token);
  const b = await runDriver(t, ["certify", "--ca", "embedded", "--ca-config", config, "--only", "ISS-VALIDITY-MAX,ISS-NOT-CA,OCSP-GOOD", "--out", outB, "--quiet"], d.url, d.token);
  t.is(a.exit.code, 0, a.stderr);
  t.is(b.exit.code, 1, `a MUST failed: ${b.stderr}`);
  const [ca, cb] = [classes(join(outA, "run.jsonl")), classes(join(outB, "run.jsonl"))];
  t.deepEqual([ca.get("ISS-VALIDITY-MAX"), cb.get("ISS-VALIDITY-MAX")], ["pass", "defect"], "in both runs, another class");
  t.deepEqual([ca.get("ISS-NOT-CA"), cb.get("ISS-NOT-CA")], ["pass", "pass"], "in both runs, the same class");
  const differing = [...new Set([...ca.keys(), ...cb.keys()])].filter((id) => ca.get(id) !== cb.get(id)).sort();
  t.deepEqual(differing, ["CRL-NUMBER", "ISS-VALIDITY-MAX", "OCSP-GOOD"]);

  const page = await newPage(t);
  const watch = await watchPage(page, d.origin);
  await page.goto(d.url);
  for (const id of [a.runId, b.runId]) await page.check(`tr[data-run-id="${id}"] input[name="pick"]`, { timeout: 15_000 });
  await page.click("#compare-button");
  await page.waitForURL(`${d.url}#/compare/${a.runId}/${b.runId}`);
  const view = `section#compare[data-run-a="${a.runId}"][data-run-b="${b.runId}"][data-differences="${differing.length}"]`;
  await page.waitForSelector(view, { timeout: 15_000 });
  const marked = await until("the rows marked", async () => {
    const ids = (await page.evaluate(`[...document.querySelectorAll("section#compare tr.diff")].map((r) => r.dataset.checkId)`)) as string[];
    return ids.length === differing.length ? ids.sort() : undefined;
  });
  t.deepEqual(marked, differing);
  t.is(await attr(page, "section#compare", "data-differences"), String(differing.length));
  t.deepEqual(watch.errors, []);
  t.deepEqual(await watch.cspViolations(), []);
});
