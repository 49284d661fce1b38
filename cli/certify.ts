import { join, resolve } from "node:path";
import type { Command } from "commander";
import { EventBus, RunLogWriter, SystemClock, UsageError, parseDuration, errorMessage } from "../core/index.js";
import { loadPolicy, resolvePolicyRef } from "../policies/index.js";
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
  /** Commander fills in the option's default ("default"). */
  policy: string;
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
    .option("--policy <file|name>", "the lifecycle policy the CA is judged against: a shipped one (default, ocsp) or a policy file", "default")
    .action(
      action(async (o: Options) => {
        if (o.list) {
          const { CATALOG } = await import("../conformance/index.js");
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

        const { CATALOG, resolveAdapter, readCaConfig, runCatalog } = await import("../conformance/index.js");
        const unknown = (only ?? []).filter((id) => !CATALOG.some((c) => c.id === id));
        if (unknown.length) usage(`unknown check ID: ${unknown.join(", ")}`);
        // A policy mistake is the user's input: one located line, exit 2, before any CA starts.
        const policy = loadPolicy(resolvePolicyRef(o.policy, process.cwd()));

        const { writeCertifyReports, certifySummaryText } = await import("../reports/index.js");
        const config = readCaConfig(o.caConfig);
        const clock = new SystemClock();

        let ca;
        try {
          ca = await resolveAdapter(target, config, clock, policy);
          await ca.anchors(); // reachable before the first check, or not at all
        } catch (err) {
          await ca?.close().catch(() => undefined);
          if (err instanceof UsageError) throw err;
          process.stderr.write(`cardloop: CA ${target} could not be started or reached: ${errorMessage(err).split("\n")[0]}\n`);
          return ExitCode.Usage;
        }
        // Every check issues; a CA that issues only to its station would refuse them all for one reason: say it once.
        if (ca.capabilities().issuanceAuthorisation && !ca.credentials?.().raToken) {
          await ca.close();
          process.stderr.write(`cardloop: CA ${target} issues only with the issuing station's (RA) credential, and certify has none: give raToken in --ca-config\n`);
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
        try {
          await runCatalog(ca, { bus, clock, only, policy, options: { propagationThresholdMs: threshold, concurrency } });
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
          process.stdout.write(certifySummaryText(report) + `reports: ${files.junit} ${files.json} ${files.markdown} ${files.html}\n`);
        }
        // The verdict of the report, built from the run log: what the files say is what the exit code says.
        return report.verdict === "fail" ? ExitCode.Failed : ExitCode.Ok;
      }),
    );
}
