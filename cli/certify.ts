import { join, resolve } from "node:path";
import type { Command } from "commander";
import { EventBus, RunLogWriter, SystemClock, parseDuration, errorMessage } from "../core/index.js";
import { ExitCode, action, usage } from "./exit.js";

interface Options {
  ca?: string;
  list?: boolean;
  caConfig?: string;
  only?: string;
  out: string;
  json?: boolean;
  threshold?: string;
  concurrency?: string;
}

/**
 * cardloop certify: runs the conformance catalogue against a CA and writes
 * JUnit, JSON, Markdown and HTML reports from the run log.
 * Exit 0 no MUST failed, 1 a MUST failed, 2 the CA could not be started or reached (or bad usage).
 */
export function register(program: Command): void {
  program
    .command("certify")
    .description("run the conformance catalogue against a CA; exit 1 when a MUST fails, 2 when the CA is unreachable")
    .option("--ca <target>", "embedded | openssl | cfssl | http(s)://URL | module:PATH (required unless --list)")
    .option("--list", "print the check catalogue (ID, level, source, title) and exit")
    .option("--ca-config <file>", "YAML options for the adapter (validity, profiles, URLs, keys)")
    .option("--only <ids>", "comma-separated check IDs to run")
    .option("--out <dir>", "where the run log and reports go", "certify-report")
    .option("--json", "print the JSON report on stdout")
    .option("--threshold <duration>", "revocation propagation threshold (CRL and OCSP)", "10s")
    .option("--concurrency <n>", "issuance requests sent at once by ISS-CONCURRENT-SERIALS", "16")
    .action(
      action(async (o: Options) => {
        if (o.list) {
          const { CATALOG } = await import("../conformance/checks/index.js");
          const rows = CATALOG.map((c) => ({ id: c.id, level: c.level, source: c.source, title: c.title, needs: c.needs ?? [] }));
          process.stdout.write(
            o.json ? JSON.stringify(rows, null, 2) + "\n" : rows.map((r) => `${r.id.padEnd(26)} ${r.level.padEnd(6)} ${r.title} [${r.source}]\n`).join(""),
          );
          return ExitCode.Ok;
        }
        if (!o.ca) return usage("--ca is required (embedded | openssl | cfssl | http(s)://URL | module:PATH)");
        const target = o.ca;
        let threshold: number;
        try {
          threshold = parseDuration(o.threshold ?? "10s");
        } catch (err) {
          return usage(`--threshold: ${errorMessage(err)}`);
        }
        const concurrency = Number(o.concurrency ?? "16");
        if (!Number.isInteger(concurrency) || concurrency < 2 || concurrency > 1000) usage(`--concurrency must be 2..1000 (got ${o.concurrency})`);
        const only = o.only ? o.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;

        const { CATALOG } = await import("../conformance/checks/index.js");
        const unknown = (only ?? []).filter((id) => !CATALOG.some((c) => c.id === id));
        if (unknown.length) usage(`unknown check ID: ${unknown.join(", ")}`);

        const { loadAdapter, readCaConfig } = await import("../conformance/adapters/load.js");
        const { runCatalog } = await import("../conformance/runner.js");
        const { writeCertifyReports } = await import("../reports/certify-writers.js");
        const config = readCaConfig(o.caConfig);
        const clock = new SystemClock();

        let ca;
        try {
          ca = await loadAdapter(target, config, clock);
          await ca.anchors(); // reachable before the first check, or not at all
        } catch (err) {
          await ca?.close().catch(() => undefined);
          if ((err as { name?: string }).name === "UsageError") throw err;
          process.stderr.write(`cardloop: CA ${target} could not be started or reached: ${errorMessage(err).split("\n")[0]}\n`);
          return ExitCode.Usage;
        }
        const stop = () => {
          void ca!.close().finally(() => process.exit(130));
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);

        const out = resolve(o.out);
        const runLog = join(out, "run.jsonl");
        const bus = new EventBus(clock);
        const writer = new RunLogWriter(runLog).attach(bus);
        let mustFailures: string[];
        try {
          const run = await runCatalog(ca, { bus, clock, only, options: { propagationThresholdMs: threshold, concurrency } });
          mustFailures = run.mustFailures.map((r) => r.id);
        } finally {
          writer.close();
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          await ca.close();
        }
        const { files, report } = writeCertifyReports(runLog, out);
        if (o.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + "\n");
        } else {
          for (const c of report.checks) {
            process.stdout.write(`${c.outcome.toUpperCase().padEnd(5)} ${c.level.padEnd(6)} ${c.id.padEnd(26)} ${c.message}\n`);
          }
          process.stdout.write(
            `\n${report.ca}: ${report.verdict.toUpperCase()} (${report.totals.mustFailed} MUST failed, ${report.totals.shouldFailed} SHOULD failed, ${report.totals.skip} skipped)\n` +
              `reports: ${files.junit} ${files.json} ${files.markdown} ${files.html}\n`,
          );
        }
        return mustFailures.length ? ExitCode.Failed : ExitCode.Ok;
      }),
    );
}
