import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { EventBus, RunLogWriter, SystemClock, UsageError, addYears, errorMessage, type LoadSummaryData } from "../core/index.js";
import { addDashboardOptions, dashboardUrl, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action, exitWith, signalExitCode, untilStopSignal, usage } from "./exit.js";
import { loadProgress } from "./load-progress.js";
import type { RawLoadOptions } from "../conformance/index.js";

/** The plan's options as commander hands them over, and the command's own. */
interface Options extends RawLoadOptions, DashboardCliOptions {
  out: string;
  json?: boolean;
  quiet?: boolean;
}

/** Keep-alive connections for an open-loop run (a closed loop keeps one per request in flight). */
const OPEN_LOOP_CONNECTIONS = 256;
const MAX_CONNECTIONS = 1024;

/**
 * cardloop load revoke: bulk-revocation load test against any CA (issue 13):
 * prepare (issue, or a serials file) -> revoke (open or closed loop, single
 * or batches) -> verify (propagation over a sample, completeness of every
 * acknowledged revocation). Exit 0 all good; 1 a gate failed, more
 * revocations failed than --max-errors allows (default none), none was
 * acknowledged, or something was lost, wrongly revoked or could not be
 * verified; 2 bad usage, a CA that could not be started or reached, or an
 * internal error; 130/143 stopped by a signal (what
 * was acknowledged is still verified and reported).
 */
export function register(program: Command): void {
  const load = program.command("load").description("load tests against a CA");
  const cmd = load
    .command("revoke")
    .description("bulk-revocation load test: prepare, revoke, verify propagation and completeness; exit 1 when a gate fails or a revocation is lost, 2 when the CA is unreachable")
    .option("--ca <target>", "embedded | openssl | cfssl | http(s)://URL | module:PATH")
    .option("--ca-config <file>", "YAML options for the adapter (URLs, raToken, operatorToken, ...)")
    .option("--prepare <n>", "issue N certificates to revoke through the CA (over all shards)")
    .option("--serials <file>", "revoke the serials a deployment already issued: one per line, or serial<TAB>code<TAB>email<TAB>name<TAB>holderId")
    .option("--issuer <pem>", "the issuing CA certificate (PEM; the first of a chain) for OCSP, with --serials")
    .option("--save-serials <file>", "with --prepare: write the prepared serials and their codes (mode 0600) for agents' --serials")
    .option("--control <k>", "certificates never revoked, checked still good at the end (default: min(100, N/10) prepared; none from a file)")
    .option("--count <n>", "revocations to send over all shards (default: every target; 0: prepare and verify only)")
    .option("--duration <d>", "revoke for this long instead of a count (e.g. 30s)")
    .option("--rate <r>", "open loop: revocations (serials) started per second, also with --batch (--batch 1000 --rate 100000 = 100 requests/s); latency from each request's intended start")
    .option("--concurrency <c>", "closed loop: requests in flight (default 64; 4 with --batch above 1)")
    .option("--batch <b>", "serials per request: above 1 uses the CA's bulk endpoint (the operator's) where it has one (default 1)")
    .option("--role <role>", "who revokes single requests: holder (each certificate's code) or operator (default holder; operator for --batch > 1)")
    .option("--reasons <mix>", "reasons mixed by weight, e.g. keyCompromise=0.1,cessationOfOperation=0.9 (default cessationOfOperation=1)")
    .option("--sample <k>", "acknowledged serials whose propagation to OCSP and the CRL is timed (default 100)")
    .option("--shard <i/n>", "this agent's share of the serials: agent I of N (no overlap, no gap)")
    .option("--timeout <d>", "per request (default 30s)")
    .option("--propagation-timeout <d>", "how long a sampled serial may take to show on OCSP and the CRL, and how long after the last acknowledgement a serial not yet published is checked again before it counts as lost (default 60s)")
    .option("--min-rate <r>", "gate: acknowledged revocations per second at least this")
    .option("--max-p99 <d>", "gate: request latency p99 at most this (e.g. 50ms)")
    .option("--max-propagation <spec>", "gate: [ocsp:|crl:][pNN=]D, e.g. ocsp:p99=2s (default both channels, p99)")
    .option("--max-errors <n|p%>", "gate: failed revocations (serials) allowed, a count or a percentage of those sent (default 0: any failure fails the run; a run with none acknowledged always fails)")
    .option("--out <dir>", "where the run log and reports go", "load-report")
    .option("--json", "print the summary as JSON on stdout")
    .option("--quiet", "no progress on stderr");
  addDashboardOptions(cmd).action(action((o: Options) => loadRevoke(o)));
}

async function loadRevoke(o: Options): Promise<number> {
  const { readCaConfig, publicUrl, parseLoadOptions, readSerialsFile, writeSerialsFile, LOAD_DEFAULTS, openLoadTarget, runLoad } = await import("../conformance/index.js");
  const plan = parseLoadOptions(o);
  // Checked with the other options, before any CA starts; the publisher itself is opened with the run log.
  dashboardUrl(o);
  const fileTargets = plan.source.kind === "file" ? readSerialsFile(plan.source.path) : undefined;
  const issuerPem = plan.source.kind === "file" && plan.source.issuerPath ? readIssuer(plan.source.issuerPath) : undefined;
  // A file without codes cannot be revoked by the holders: the operator does it, unless --role holder says otherwise.
  const codeless = fileTargets?.some((t) => t.holder?.code === undefined) ?? false;
  if (codeless && plan.role === "holder" && plan.roleGiven) usage(`--role holder needs each serial's code: ${plan.source.kind === "file" ? plan.source.path : ""} has serials without one (use --role operator)`);
  let role = codeless && !plan.roleGiven ? "operator" : plan.role;
  const config = readCaConfig(plan.caConfig);
  const target = plan.target;
  const shown = /^https?:\/\//i.test(target) ? publicUrl(target) : target;
  const clock = new SystemClock();
  const connections = plan.loop.kind === "closed" ? Math.min(MAX_CONNECTIONS, Math.max(plan.loop.concurrency, 8)) : OPEN_LOOP_CONNECTIONS;

  let opened: { ca: import("../simulator/ca/index.js").CaAdapter; close(): Promise<void> } | undefined;
  try {
    opened = await openLoadTarget(target, config, { connections, timeoutMs: plan.timeoutMs, clock });
    await opened.ca.anchors(); // reachable before the run, or not at all
  } catch (err) {
    await opened?.close().catch(() => undefined);
    if (err instanceof UsageError) throw err;
    process.stderr.write(`cardloop: CA ${shown} could not be started or reached: ${errorMessage(err).split("\n")[0]}\n`);
    return ExitCode.Usage;
  }
  const { ca } = opened;
  const creds = ca.credentials?.() ?? {};
  const caps = ca.capabilities();
  // A CA without cancellation codes (openssl, cfssl) issues nothing a holder could revoke with: the operator revokes.
  if (!caps.cancellationCodes && !plan.roleGiven) role = "operator";
  if (!caps.cancellationCodes && role === "holder") {
    await opened.close().catch(() => undefined);
    return usage(`CA ${shown} has no cancellation codes: holders cannot revoke there (use --role operator)`);
  }
  // A CA that checks no credential (authorisation: false) still gets a token-shaped value: the revoke phase sends what it is given.
  const operatorToken = creds.operatorToken ?? (caps.authorisation ? undefined : "none");
  const setupProblem =
    (role === "operator" || (plan.batch > 1 && caps.bulkRevoke)) && !operatorToken
      ? `CA ${shown} needs the operator's token for ${role === "operator" ? "operator revocations" : "batches"}: give operatorToken in --ca-config`
      : plan.source.kind === "prepare" && caps.issuanceAuthorisation && !creds.raToken
        ? `CA ${shown} asks for the issuing station's (RA) token to issue: give raToken in --ca-config`
        : plan.source.kind === "file" && caps.ocsp && !issuerPem
          ? "--serials needs --issuer PEM (the issuing CA certificate) so that OCSP answers can be checked"
          : undefined;
  if (setupProblem) {
    await opened.close().catch(() => undefined);
    return usage(setupProblem);
  }

  const { writeLoadReports, loadSummaryText } = await import("../reports/index.js");
  const out = resolve(o.out);
  const runLog = join(out, "run.jsonl");
  const bus = new EventBus(clock);
  const writer = new RunLogWriter(runLog).attach(bus);
  const publisher = (await openPublisher(o, "load", runLog))?.attach(bus);
  const progress = o.quiet ? undefined : loadProgress(bus, process.stderr);
  // A signal stops the revocations; what was acknowledged is still verified and reported, then 130 or 143. A second one ends the process at once.
  const stop = new AbortController();
  const done = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  void untilStopSignal(done.signal).then((sig) => {
    stoppedBy = sig;
    process.stderr.write(`\ncardloop: ${sig}: stopping the revocations, verifying what was acknowledged (again to end at once)\n`);
    // Its name is the reason: the summary's `interrupted` says which signal stopped the run.
    stop.abort(sig);
    // The second one ends the process at once, through process.exit: its exit handlers still end a served embedded CA.
    const now = (s: NodeJS.Signals) => process.exit(signalExitCode(s));
    process.once("SIGINT", now);
    process.once("SIGTERM", now);
  });

  let summary: LoadSummaryData | undefined;
  let runError: unknown;
  try {
    summary = await runLoad(
      { ca, bus, signal: stop.signal },
      {
        plan,
        shown,
        fileTargets,
        issuerPem,
        role,
        operatorToken,
        raToken: creds.raToken,
        runId: `${clock.nowMs().toString(36)}${randomBytes(3).toString("hex")}`,
        cardExpiry: addYears(clock.now(), 2),
        prepareConcurrency: LOAD_DEFAULTS.prepareConcurrency,
      },
      {
        // Verification is not counted as it goes: its line shows the time it has taken.
        onPhase: (phase, total) => progress?.phase(phase, phase === "verify" ? 0 : total),
        onPrepared: (n) => progress?.done(n),
        onAck: () => progress?.tick(),
        onTargets: (targets) => {
          if (plan.saveSerials) writeSerialsFile(plan.saveSerials, targets);
        },
      },
    );
  } catch (err) {
    // Said once the CA is stopped: a UsageError as itself, anything else as "internal error: <first line>" (exitWith, exit 2).
    runError = err ?? new Error("unknown error");
  } finally {
    progress?.close();
    writer.close();
    done.abort();
    // The dashboard's last batch goes while the CA stops.
    const published = publisher?.close();
    await opened.close().catch(() => undefined).finally(() => published);
  }
  if (runError !== undefined) exitWith(runError);
  const reports = writeLoadReports(runLog, out);
  summary ??= reports.summary;
  if (o.json) {
    if (summary) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  } else {
    if (summary) process.stdout.write(loadSummaryText(summary));
    const f = reports.files;
    process.stdout.write(`reports: ${f.json} ${f.junit} ${f.markdown} ${f.html}\n`);
  }
  if (summary) for (const line of verdictLines(summary)) process.stderr.write(`cardloop: ${line}\n`);
  if (stoppedBy) {
    // The summary (and its verdict line) says it was stopped; without one, this line does.
    if (!summary?.interrupted) process.stderr.write(`cardloop: stopped by ${stoppedBy}: the figures cover what was sent before it\n`);
    return signalExitCode(stoppedBy);
  }
  // No summary: the run broke off (a fault of the tool, said above): nothing was judged.
  return summary?.exitCode ?? ExitCode.Usage;
}

/** One line per reason the run failed: each failed gate by name, lost and wrongly revoked counts, an incomplete verification. */
export function verdictLines(s: LoadSummaryData): string[] {
  const lines: string[] = [];
  for (const g of s.gates) if (!g.passed) lines.push(`gate ${g.gate} failed: ${g.actual} (limit ${g.limit})`);
  const c = s.completeness;
  if (c.lost.length) lines.push(`${c.lost.length} acknowledged revocation(s) lost (not published): see the reports`);
  if (c.wronglyRevoked.length) lines.push(`${c.wronglyRevoked.length} certificate(s) revoked that the run never revoked: see the reports`);
  if (c.wrongReason.length) lines.push(`${c.wrongReason.length} revocation(s) published with another reason: see the reports`);
  if (s.interrupted) lines.push(`stopped by ${s.interrupted.signal}: the figures cover what was sent before it`);
  if (!c.complete) lines.push(`verification incomplete: ${c.incompleteReason ?? "unknown reason"}`);
  return lines;
}

/** The first certificate of a PEM file (an issuing CA certificate, or a chain starting with it). */
function readIssuer(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --issuer ${path}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  if (!m) throw new UsageError(`--issuer ${path} holds no PEM certificate`);
  return `${m[0]}\n`;
}
