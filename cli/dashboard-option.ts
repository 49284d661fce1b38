import type { Command } from "commander";
import { RunLogWriter, type AnyEvent } from "../core/index.js";
import { DashboardPublisher, parseDashboardUrl } from "../dashboard/index.js";
import { signalExitCode, untilStopSignal, usage } from "./exit.js";

/** What commander makes of the two options (camel-cased). */
export interface DashboardCliOptions {
  dashboard?: string;
  dashboardToken?: string;
}

/** `--dashboard URL` and `--dashboard-token TOKEN`, the same on every driver. */
export function addDashboardOptions(cmd: Command): Command {
  return cmd
    .option("--dashboard <url>", "publish this run's events live to a dashboard (default $CARDLOOP_DASHBOARD)")
    .option(
      "--dashboard-token <token>",
      "the dashboard's publish token (default $CARDLOOP_DASHBOARD_TOKEN; prefer the variable: a command line is visible to other users)",
    );
}

/**
 * The dashboard's URL from --dashboard or $CARDLOOP_DASHBOARD, or undefined
 * when none is named. Not the dashboard's http(s) origin (parseDashboardUrl,
 * the rule --public-url follows too): one line, never the URL (it may hold a
 * password), and exit 2. A driver calls it with its other options, before
 * anything starts, when it opens the publisher later.
 */
export function dashboardUrl(opts: DashboardCliOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = (opts.dashboard ?? env.CARDLOOP_DASHBOARD)?.trim();
  if (url === undefined || url === "") return undefined;
  const parsed = parseDashboardUrl(url, opts.dashboard !== undefined ? "--dashboard" : "CARDLOOP_DASHBOARD");
  if ("error" in parsed) usage(parsed.error);
  return parsed.url;
}

/**
 * The run's publisher, or undefined when no dashboard is named. Called before
 * the run's first event, and says on stderr where the run can be watched.
 * The publisher loads undici only at its first request: a run that does not
 * publish does not pay for it at start-up.
 */
export async function openPublisher(
  opts: DashboardCliOptions,
  kind: string,
  runLog?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DashboardPublisher | undefined> {
  const url = dashboardUrl(opts, env);
  if (url === undefined) return undefined;
  const token = opts.dashboardToken ?? env.CARDLOOP_DASHBOARD_TOKEN;
  const publisher = new DashboardPublisher({ url, token: token || undefined, kind, runLog });
  process.stderr.write(`dashboard: ${publisher.url}\n`);
  return publisher;
}

/** Where a scenario driver's events go, and how a SIGINT or SIGTERM ends it (see driverOutputs). */
export interface DriverOutputs {
  /** runFiles' sink: each event to the run log and the publisher; nothing once a signal arrived. */
  sink(event: AnyEvent): void;
  /** The run (runFiles' promise), the run log closed once it settles (the reports read it next); after a signal, it never settles. */
  settle<T>(run: Promise<T>): Promise<T>;
  /** Runs the driver's command, then closes the publisher (what it queued, marked final, within its bound); after a signal, it never settles. */
  guard(command: () => Promise<number>): Promise<number>;
}

/**
 * A driver's run log (`runLog`, opened at the first event so that a run
 * stopped by its input leaves an earlier log alone) and publisher, with
 * SIGINT and SIGTERM handled until the command is done: the run log is closed
 * (its buffered lines written), the publisher sends what it queued marked
 * final, within its bound, so the dashboard shows the run ended rather than
 * running, and the process exits 130 or 143 as a shell expects. The command
 * stops where it is (its promises never settle: the exit ends it). A second
 * signal while that happens ends the process at once (Node's default again).
 */
export function driverOutputs(runLog: string | undefined, publisher: DashboardPublisher | undefined): DriverOutputs {
  let writer: RunLogWriter | undefined;
  let signal: NodeJS.Signals | undefined;
  const done = new AbortController();
  void untilStopSignal(done.signal).then((sig) => {
    signal = sig;
    writer?.close();
    void (publisher?.close() ?? Promise.resolve()).finally(() => process.exit(signalExitCode(sig)));
  });
  const halted = () => new Promise<never>(() => undefined);
  return {
    sink(event) {
      if (signal) return;
      if (runLog !== undefined) (writer ??= new RunLogWriter(runLog)).write(event);
      publisher?.write(event);
    },
    settle: (run) => run.finally(() => writer?.close()).then((value) => (signal ? halted() : value)),
    async guard(command) {
      try {
        return await command();
      } catch (err) {
        if (signal) await halted();
        throw err;
      } finally {
        // Not reached after a signal. After the run log is closed: what the dashboard did not get, the run log has.
        await publisher?.close();
        done.abort();
      }
    },
  };
}
