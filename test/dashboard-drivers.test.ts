/*
 * The drivers that publish, spawned as a user runs them (`cardloop run` and
 * `demo --dashboard`), against the stand-in dashboard
 * (test/support/publish-recorder.ts) and the real one: every event there in
 * order, a dashboard down or restarted mid-run, a driver interrupted, and
 * what a publishing driver loads.
 */
import test, { type ExecutionContext } from "ava";
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, readSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { readRunLog, type AnyEvent } from "../core/index.js";
import { startDashboard } from "../dashboard/server.js";
import { retryOnPortInUse, spawnGroup, tempDir } from "../harness/processes.js";
import { demoRunLog, lineCount } from "./support/dashboard.js";
import { SLACK, TOKEN, deadPort, event, publisher, startRecorder, until } from "./support/publish-recorder.js";

const root = join(import.meta.dirname, "..");

/** A node process (ARGS after node's) in a group of its own, stopped with its group, and its deadline, by harness/processes.ts. */
const nodeGroup = (t: ExecutionContext, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: "ignore" | "pipe" } = {}) =>
  spawnGroup(t, process.execPath, args, { cwd: root, ...opts });

/** `cardloop ARGS`, with no dashboard in its environment but `env`'s. */
async function cardloop(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const p = nodeGroup(t, [join(root, "bin/cardloop.js"), ...args], { env: { ...process.env, CARDLOOP_DASHBOARD: "", CARDLOOP_DASHBOARD_TOKEN: "", ...env } });
  return { code: (await p.wait()).code, stderr: p.stderr };
}

test("cardloop run --dashboard with nothing listening: exit 0, the run log complete, exactly one warning", async (t) => {
  const out = tempDir(t, "publish");
  const port = await deadPort();
  const { code, stderr } = await cardloop(t, ["run", "scenarios/library/03-employee-departure.yaml", "--out", out, "--dashboard", `http://127.0.0.1:${port}/`], {
    CARDLOOP_DASHBOARD_TOKEN: TOKEN,
  });
  t.is(code, 0, stderr);
  const events = readRunLog(join(out, "run.jsonl"));
  t.is(events[0].type, "run.started");
  t.is(events.at(-1)!.type, "run.finished");
  t.true(events.length > 10);
  t.true(readFileSync(join(out, "junit.xml"), "utf8").includes("<testsuite"));
  const lines = stderr.split("\n").filter((l) => l !== "");
  t.is(lines.length, 2, stderr);
  t.regex(lines[0], new RegExp(`^dashboard: http://127\\.0\\.0\\.1:${port}/#/run/scenario-\\d{8}T\\d{6}-[0-9a-f]{8}$`));
  t.is(lines[1], `cardloop: dashboard http://127.0.0.1:${port}/ unreachable (ECONNREFUSED): events are not shown there; the run log is complete`);
  t.false(stderr.includes(TOKEN));
});

test("cardloop run --dashboard (URL and token from the environment): the dashboard gets the run log's events, line for line", async (t) => {
  const rec = await startRecorder({ token: TOKEN });
  t.teardown(() => rec.close());
  const out = tempDir(t, "publish");
  const { code, stderr } = await cardloop(t, ["run", "scenarios/library/03-employee-departure.yaml", "--out", out], {
    CARDLOOP_DASHBOARD: rec.url,
    CARDLOOP_DASHBOARD_TOKEN: TOKEN,
  });
  t.is(code, 0, stderr);
  const runLog = join(out, "run.jsonl");
  t.deepEqual(
    rec.held.events.map((e) => JSON.stringify(e)),
    readFileSync(runLog, "utf8").split("\n").filter((l) => l !== ""),
  );
  t.is(rec.held.finals, 1);
  t.is(rec.held.gap, 0);
  const id = /#\/run\/(\S+)/.exec(stderr)?.[1];
  t.truthy(id);
  t.true(rec.requests.every((r) => r.path === `/api/v1/runs/${id}/events` && r.auth === `Bearer ${TOKEN}`));
  t.deepEqual(rec.requests[0].batch.origin, { host: hostname(), runLog });
  t.is(stderr.trim().split("\n").length, 1, stderr);
});

test("the real dashboard: cardloop run --dashboard puts every event there in order, its lines the run log's, the run finished", async (t) => {
  const runsDir = tempDir(t, "dashboard");
  const dash = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map() });
  t.teardown(() => dash.close());
  const out = tempDir(t, "publish");
  const { code, stderr } = await cardloop(t, ["run", "scenarios/library/01-full-lifecycle.yaml", "scenarios/library/03-employee-departure.yaml", "--out", out], {
    CARDLOOP_DASHBOARD: dash.url,
    CARDLOOP_DASHBOARD_TOKEN: TOKEN,
  });
  t.is(code, 0, stderr);
  const id = /#\/run\/(\S+)/.exec(stderr)?.[1] ?? "";
  const runLog = join(out, "run.jsonl");
  const expected = readFileSync(runLog, "utf8").split("\n").filter((l) => l !== "");
  t.deepEqual(dash.store.lines(id, 0, expected.length + 1), expected);
  // and as a page reads them, over the API, page by page
  const read: unknown[] = [];
  for (;;) {
    const page = (await (await fetch(`${dash.url}api/v1/runs/${id}/events?from=${read.length}`)).json()) as { events: unknown[] };
    if (page.events.length === 0) break;
    read.push(...page.events);
  }
  t.deepEqual(read, expected.map((l) => JSON.parse(l)));
  const run = dash.store.get(id)!;
  t.like(run, { id, kind: "scenario", source: "published", verdict: "pass", events: expected.length, dropped: 0 });
  t.deepEqual(run.origin, { host: hostname(), runLog });
});

test("the real dashboard restarted mid-run on its port: it gets every event still queued, in order, none twice", async (t) => {
  const runsDir = tempDir(t, "dashboard");
  const first = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map() });
  t.teardown(() => first.close()); // once only: close() is the same promise the second time
  const { pub, warnings } = publisher(first.url);
  t.teardown(() => pub.close(0).then(() => undefined));
  const written: AnyEvent[] = [];
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) pub.write(written[written.push(event(i)) - 1]);
  };
  write(0, 500);
  await until(() => first.store.count(pub.id) === 500);
  await first.close();
  write(500, 1_000);
  await until(() => warnings.length > 0);
  write(1_000, 1_500);
  // On the port it had: another suite may have been given it meanwhile, so a port in use is tried again, a few times.
  const second = await retryOnPortInUse("the dashboard restarted on its port", () => startDashboard({ port: first.port, runsDir, token: TOKEN, assets: new Map() }));
  t.teardown(() => second.close());
  await until(() => second.store.count(pub.id) === 1_500);
  t.deepEqual(await pub.close(SLACK), { sent: 1_500, dropped: 0 });
  t.deepEqual(second.store.lines(pub.id, 0, 2_000), written.map((e) => JSON.stringify(e)));
  t.like(second.store.get(pub.id), { events: 1_500, dropped: 0, source: "published" });
  t.is(warnings.length, 1);
});

/** An ES module script run by node with tsx, in a group of its own. */
const node = (t: ExecutionContext, script: string, stdin: "ignore" | "pipe" = "ignore") => nodeGroup(t, ["--import=tsx", "--input-type=module", "-e", script], { stdin });

test("a driver importing dashboard/index.ts for its publisher loads neither the server, express, ws nor the store", async (t) => {
  // Every module the process resolves is reported by a resolve hook; the server's import after the index's shows the hook sees them.
  const script = `
    import { register } from "node:module";
    import { MessageChannel } from "node:worker_threads";
    const { port1, port2 } = new MessageChannel();
    const loaded = new Set();
    let flushed;
    port1.on("message", (m) => (m === "flushed" ? flushed() : loaded.add(m)));
    const hooks = \`let port; export function initialize(data) { port = data.port; port.on("message", () => port.postMessage("flushed")); port.unref(); }
      export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); port.postMessage(r.url); return r; }\`;
    register("data:text/javascript," + encodeURIComponent(hooks), import.meta.url, { data: { port: port2 }, transferList: [port2] });
    const ours = async (path) => {
      await import(path);
      await new Promise((resolve) => { flushed = resolve; port1.postMessage("flush"); });
      return [...loaded].filter((u) => /\\/(dashboard|node_modules\\/(express|ws))\\//.test(u)).map((u) => u.replace(/^.*?\\/(dashboard|node_modules)\\//, "$1/"));
    };
    const index = await ours(${JSON.stringify(join(root, "dashboard/index.ts"))});
    const { DashboardPublisher, startDashboard } = await import(${JSON.stringify(join(root, "dashboard/index.ts"))});
    console.log(JSON.stringify({ index, publisher: typeof DashboardPublisher, start: typeof startDashboard }));
    console.log(JSON.stringify(await ours(${JSON.stringify(join(root, "dashboard/server.ts"))})));
    port1.close();
  `;
  const p = node(t, script);
  t.is((await p.wait()).code, 0, p.stderr);
  const [index, server] = p.stdout.trim().split("\n").map((l) => JSON.parse(l) as unknown);
  t.deepEqual(index, { index: ["dashboard/index.ts", "dashboard/publisher.ts", "dashboard/protocol.ts"], publisher: "function", start: "function" });
  const loaded = server as string[];
  for (const m of ["dashboard/server.ts", "dashboard/store.ts", "dashboard/hub.ts"]) t.true(loaded.includes(m), m);
  t.true(loaded.some((m) => m.startsWith("node_modules/express/")), "express, once the server is imported");
  t.true(loaded.some((m) => m.startsWith("node_modules/ws/")), "ws, once the server is imported");
});

test("the keep-alive never keeps a driver's process alive: one that has not closed its publisher still ends", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  const script = `
    const { DashboardPublisher } = await import(${JSON.stringify(join(root, "dashboard/index.ts"))});
    const pub = new DashboardPublisher({ url: ${JSON.stringify(rec.url)}, kind: "scenario", keepAliveMs: 10 });
    pub.write({ type: "log.message", seq: 0, time: new Date(0).toISOString(), data: { level: "info", message: "one" } });
    process.stdin.resume();
    await new Promise((resolve) => process.stdin.once("end", resolve));
    process.stdin.destroy();
    console.log("done, not closed");
  `;
  const p = node(t, script, "pipe");
  await until(() => rec.requests.some((r) => r.batch.events.length === 0));
  p.child.stdin!.end(); // the driver's work is over; only the publisher's timers and sockets remain
  t.is((await p.wait()).code, 0, p.stderr);
  t.is(p.stdout, "done, not closed\n");
  t.false(rec.requests.some((r) => r.batch.final), "it never closed");
});

test("cardloop demo --dashboard interrupted by SIGINT mid-run: exit 130, the run log closed with every event, the dashboard's run ended with them", async (t) => {
  // How many events a whole demo run has, from one run to its end.
  const whole = lineCount(await demoRunLog(t));
  const runsDir = tempDir(t, "dashboard");
  const dash = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map() });
  t.teardown(() => dash.close());
  // The run log is a FIFO the test reads: the demo opens it at its first event (its signal handlers are in place
  // by then) and cannot write past the pipe's 64 KiB (a quarter of the demo) until the test reads. So the signal,
  // sent once the demo has opened it and before reading, is handled mid-run however busy the machine is.
  const out = tempDir(t, "publish");
  const runLog = join(out, "run.jsonl");
  execFileSync("mkfifo", [runLog]);
  const fd = openSync(runLog, constants.O_RDONLY | constants.O_NONBLOCK);
  t.teardown(() => closeSync(fd));
  const chunks: Buffer[] = [];
  /** Reads what is in the pipe: "open" (the demo has it open, nothing more to read now) or "closed" (EOF: no writer). */
  const drain = (): "open" | "closed" => {
    for (;;) {
      const buf = Buffer.alloc(65536);
      let n: number;
      try {
        n = readSync(fd, buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") return "open";
        throw err;
      }
      if (n === 0) return "closed";
      chunks.push(buf.subarray(0, n));
    }
  };
  const demo = nodeGroup(t, [join(root, "bin/cardloop.js"), "demo", "--out", out, "--dashboard", dash.url], {
    env: { ...process.env, CARDLOOP_DASHBOARD: "", CARDLOOP_DASHBOARD_TOKEN: TOKEN },
  });
  await until(() => demo.done || drain() === "open");
  demo.signal("SIGINT");
  await until(() => drain() === "closed" && demo.done);
  t.is((await demo.wait()).code, 130, demo.stderr);
  const lines = Buffer.concat(chunks).toString("utf8").split("\n");
  t.is(lines.pop(), "", "the run log ends with a whole line");
  t.true(lines.every((l) => typeof (JSON.parse(l) as AnyEvent).type === "string"), "every line an event");
  const run = dash.store.list()[0];
  // Cut inside a scenario it is "incomplete"; between two, every scenario it holds finished: "pass". Never "running".
  t.not(run.verdict, "running", "the final batch came");
  t.true(run.events > 0 && run.events < whole, `cut short: ${run.events} of the demo's ${whole} events`);
  t.deepEqual(dash.store.lines(run.id, 0, 5000), lines, "the dashboard has what the run log has");
  t.is(demo.stderr.trim().split("\n").length, 1, demo.stderr);
});
