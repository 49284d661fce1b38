import { join, resolve } from "node:path";
import type { Command } from "commander";
import { EventBus, RunLogWriter, SystemClock, UsageError, parseDuration, errorMessage } from "../core/index.js";
import { loadPolicy, resolvePolicyRef } from "../policies/index.js";
import { certifyProgress } from "./certify-progress.js";
import { addDashboardOptions, dashboardUrl, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action, signalExitCode, untilStopSignal, usage } from "./exit.js";

interface Options extends DashboardCliOptions {
  ca?: string;
  list?: boolean;
  caConfig?: string;
  only?: string;
  out: string;
  json?: boolean;
  /** These four (and `policy`, `out`) are always filled in: commander gives the option's default. */
  threshold: string;
  concurrency: string;
  samples: string;
  percentile: string;
  allowIncomplete?: boolean;
  strict?: boolean;
  quiet?: boolean;
  /** Commander fills in the option's default ("default"). */
  policy: string;
}

/**
 * cardloop certify: runs the conformance catalogue against a CA and writes
 * JUnit, JSON, Markdown and HTML reports from the run log.
 * Exit 0 conforms, 1 a MUST (or, with --strict, a SHOULD) failed on the CA's
 * own artefacts, 3 some checks could not be judged (unless
 * --allow-incomplete), 2 the CA could not be started or reached, or bad usage.
 */
export function register(program: Command): void {
  const cmd = program
    .command("certify")
    .description("run the conformance catalogue against a CA; exit 1 when a MUST fails, 3 when checks could not be judged, 2 when the CA is unreachable")
    .option("--ca <target>", "embedded | openssl | cfssl | http(s)://URL | module:PATH (required unless --list)")
    .option("--list", "print the check catalogue (ID, level, source, title, credentials) and exit")
    .option("--ca-config <file>", "YAML options for the adapter (validity, profiles, URLs, keys, raToken, operatorToken)")
    .option("--only <ids>", "comma-separated check IDs to run")
    .option("--out <dir>", "where the run log and reports go", "certify-report")
    .option("--json", "print the JSON report on stdout")
    .option("--threshold <duration>", "revocation propagation threshold (CRL and OCSP)", "10s")
    .option("--samples <n>", "revocations each propagation check observes", "10")
    .option("--percentile <p>", "the percentile of those delays judged against the threshold", "95")
    .option("--concurrency <n>", "issuance requests sent at once by ISS-CONCURRENT-SERIALS", "16")
    .option("--policy <file|name>", "the lifecycle policy the CA is judged against: a shipped one (default, ocsp) or a policy file", "default")
    .option("--allow-incomplete", "exit 0 when nothing failed even if some checks could not be judged (they stay in the reports)")
    .option("--strict", "SHOULD failures fail the run too (exit 1)")
    .option("--quiet", "no progress on stderr");
  addDashboardOptions(cmd).action(
      action(async (o: Options, cmd: Command) => {
        if (o.list) {
          const { CATALOG } = await import("../conformance/index.js");
          const rows = CATALOG.map((c) => ({ id: c.id, level: c.level, source: c.source, title: c.title, needs: c.needs ?? [], credentials: c.credentials ?? ["raToken"] }));
          process.stdout.write(
            o.json ? JSON.stringify(rows, null, 2) + "\n" : rows.map((r) => `${r.id.padEnd(26)} ${r.level.padEnd(6)} ${r.title} [${r.source}]\n`).join(""),
          );
          return ExitCode.Ok;
        }
        if (!o.ca) return usage("--ca is required (embedded | openssl | cfssl | http(s)://URL | module:PATH)");
        const target = o.ca;
        let threshold: number;
        try {
          threshold = parseDuration(o.threshold);
        } catch (err) {
          return usage(`--threshold: ${errorMessage(err)}`);
        }
        const concurrency = intOption("--concurrency", o.concurrency, 2, 1000);
        const samples = intOption("--samples", o.samples, 1, 1000);
        const percentile = Number(o.percentile);
        if (!(percentile > 0 && percentile <= 100)) usage(`--percentile must be in (0, 100] (got ${o.percentile})`);
        const only = o.only ? o.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
        // Checked with the other options, before any CA starts; the publisher itself is opened with the run log.
        dashboardUrl(o);

        const { CATALOG, resolveAdapter, readCaConfig, runCatalog, checksLackingCredentials, publicUrl } = await import("../conformance/index.js");
        // What certify says and writes about the target: a password in a URL never reaches a log or a report.
        const shown = /^https?:\/\//i.test(target) ? publicUrl(target) : target;
        const unknown = (only ?? []).filter((id) => !CATALOG.some((c) => c.id === id));
        if (unknown.length) usage(`unknown check ID: ${unknown.join(", ")}`);
        // A policy mistake is the user's input: one located line, exit 2, before any CA starts.
        const policy = loadPolicy(resolvePolicyRef(o.policy, process.cwd()));

        const { writeCertifyReports, certifySummaryText, certifyJson } = await import("../reports/index.js");
        const config = readCaConfig(o.caConfig);
        const clock = new SystemClock();

        let ca;
        try {
          ca = await resolveAdapter(target, config, clock, policy);
          await ca.anchors(); // reachable before the first check, or not at all
        } catch (err) {
          await ca?.close().catch(() => undefined);
          if (err instanceof UsageError) throw err;
          process.stderr.write(`cardloop: CA ${shown} could not be started or reached: ${errorMessage(err).split("\n")[0]}\n`);
          return ExitCode.Usage;
        }
        // Said at once, before anything runs: which checks this CA's credentials would let certify judge.
        const selected = only ? CATALOG.filter((c) => only.includes(c.id)) : CATALOG;
        const lacking = checksLackingCredentials(selected, ca.capabilities(), ca.credentials?.() ?? {});
        for (const cred of ["raToken", "operatorToken"] as const) {
          const ids = lacking.filter((l) => l.missing.includes(cred)).map((l) => l.id);
          if (ids.length) {
            const what = cred === "raToken" ? "the issuing station's (RA) token" : "the operator's token";
            process.stderr.write(
              `cardloop: CA ${shown} asks for ${what}, which certify does not hold: ${ids.length === selected.length ? "every check" : `${ids.length} checks (${ids.join(", ")})`} cannot be judged; give ${cred} in --ca-config\n`,
            );
          }
        }
        const out = resolve(o.out);
        const runLog = join(out, "run.jsonl");
        const bus = new EventBus(clock);
        const writer = new RunLogWriter(runLog).attach(bus);
        const publisher = (await openPublisher(o, "certify", runLog))?.attach(bus);
        const rules = { allowIncomplete: o.allowIncomplete === true, strict: o.strict === true };
        const progress = o.quiet ? undefined : certifyProgress(bus, process.stderr, selected.length, rules);
        // Interrupted: the reports still say what was judged so far, and that the run is incomplete; exit 130 or 143 as a shell expects.
        const judged = new AbortController();
        void untilStopSignal(judged.signal).then((signal) => {
          progress?.close();
          writer.close();
          // The dashboard's last batch goes while the CA stops, within the publisher's own bound.
          void Promise.all([ca!.close().catch(() => undefined), publisher?.close()]).finally(() => {
            writeCertifyReports(runLog, out);
            process.exit(signalExitCode(signal));
          });
        });

        // The command that judges one check again exactly as this run did: every judging option the user gave.
        const judging = (["caConfig", "policy", "threshold", "samples", "percentile", "concurrency"] as const).filter(
          (k) => o[k] !== undefined && cmd.getOptionValueSource(k) !== "default",
        );
        const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        const reproduce = (id: string) =>
          [
            "cardloop certify",
            `--ca ${shellWord(shown)}`,
            ...judging.map((k) => `${flag(k)} ${shellWord(o[k]!)}`),
            o.strict ? "--strict" : "",
            o.allowIncomplete ? "--allow-incomplete" : "",
            `--only ${id}`,
          ]
            .filter(Boolean)
            .join(" ");
        try {
          await runCatalog(ca, { bus, clock, only, policy, policySource: o.policy, options: { propagationThresholdMs: threshold, concurrency, samples, percentile }, rules, reproduce });
        } catch (err) {
          // The harness failed between checks: the run log ends there, and the reports say the run is incomplete (exit 3).
          process.stderr.write(`cardloop: certify stopped: ${errorMessage(err).split("\n")[0]}\n`);
        } finally {
          progress?.close();
          writer.close();
          judged.abort();
          // The dashboard's last batch goes while the CA stops.
          const published = publisher?.close();
          await ca.close().finally(() => published);
        }
        const { files, report } = writeCertifyReports(runLog, out);
        if (o.json) {
          process.stdout.write(certifyJson(report));
        } else {
          process.stdout.write(certifySummaryText(report) + `reports: ${files.junit} ${files.json} ${files.markdown} ${files.html}\n`);
        }
        // The verdict of the report, built from the run log: what the files say is what the exit code says.
        return report.exitCode;
      }),
    );
}

function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be ${min}..${max} (got ${value})`);
  return n;
}

/** A word as a POSIX shell reads it back: plain when safe, single-quoted otherwise. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
