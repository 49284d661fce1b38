/*
 * `cardloop load revoke --dashboard`, spawned as a user runs it, against the
 * real dashboard: the run is there as kind "load", its lines the run log's,
 * with the load metrics and the summary the dashboard's load view reads.
 */
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOAD_METRICS, readRunLog } from "../core/index.js";
import { startDashboard } from "../dashboard/server.js";
import { spawnGroup, tempDir } from "../harness/processes.js";
import { TOKEN } from "./support/publish-recorder.js";

const root = join(import.meta.dirname, "..");

test("the real dashboard: load revoke --dashboard puts every event of the run there, as a load run with its metrics and summary", async (t) => {
  const runsDir = tempDir(t, "dashboard");
  const dash = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map() });
  t.teardown(() => dash.close());
  const out = tempDir(t, "load");
  const config = join(out, "instant.yaml");
  writeFileSync(config, "inner: instant\n");
  const p = spawnGroup(
    t,
    process.execPath,
    [join(root, "bin/cardloop.js"), "load", "revoke", "--ca", "module:conformance/adapters/load-faults.ts", "--ca-config", config, "--prepare", "200", "--batch", "50", "--sample", "20", "--quiet", "--out", out],
    { cwd: root, env: { ...process.env, CARDLOOP_DASHBOARD: dash.url, CARDLOOP_DASHBOARD_TOKEN: TOKEN } },
  );
  const { code } = await p.wait();
  t.is(code, 0, p.stderr);
  const id = /#\/run\/(\S+)/.exec(p.stderr)?.[1] ?? "";
  t.truthy(id, p.stderr);
  const runLog = join(out, "run.jsonl");
  const events = readRunLog(runLog);
  t.deepEqual(dash.store.lines(id, 0, events.length + 1), events.map((e) => JSON.stringify(e)));
  t.like(dash.store.get(id), { id, kind: "load", source: "published", verdict: "pass", events: events.length, dropped: 0 });
  const started = events.find((e) => e.type === "run.started");
  t.like(started?.data, { kind: "load", meta: { ca: "module:conformance/adapters/load-faults.ts" } });
  const metrics = new Set(events.filter((e) => e.type === "metric.sample").map((e) => (e.data as { name: string }).name));
  for (const name of [LOAD_METRICS.throughput, LOAD_METRICS.latencyP50, LOAD_METRICS.latencyP99, LOAD_METRICS.propagationOcsp, LOAD_METRICS.propagationCrl]) {
    t.true(metrics.has(name), `no ${name} sample`);
  }
  const summary = events.filter((e) => e.type === "load.summary");
  t.is(summary.length, 1);
  t.like(summary[0].data, { exitCode: 0, revoke: { acknowledged: 200 } });
  t.false(p.stderr.includes(TOKEN));
});
