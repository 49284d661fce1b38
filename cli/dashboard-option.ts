import type { Command } from "commander";
import { RunLogWriter, type AnyEvent } from "../core/index.js";
import type { DashboardPublisher } from "../dashboard/index.js";
import { usage } from "./exit.js";

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
 * when none is named. Not http(s): one line and exit 2. A driver calls it with
 * its other options, before anything starts, when it opens the publisher later.
 */
export function dashboardUrl(opts: DashboardCliOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = (opts.dashboard ?? env.CARDLOOP_DASHBOARD)?.trim();
  if (url === undefined || url === "") return undefined;
  const from = opts.dashboard !== undefined ? "--dashboard" : "CARDLOOP_DASHBOARD";
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  // The URL itself is not repeated: it may carry a password.
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.hostname === "") {
    usage(`${from} must be an http:// or https:// URL such as http://127.0.0.1:8450/, not ${parsed ? parsed.protocol : "a URL"}`);
  }
  return parsed.href;
}

/**
 * The run's publisher, or undefined when no dashboard is named. Called before
 * the run's first event, and says on stderr where the run can be watched.
 * The dashboard's code (undici and the rest) is loaded only then: a run that
 * does not publish does not pay for it at start-up.
 */
export async function openPublisher(
  opts: DashboardCliOptions,
  kind: string,
  runLog?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DashboardPublisher | undefined> {
  const url = dashboardUrl(opts, env);
  if (url === undefined) return undefined;
  const { DashboardPublisher } = await import("../dashboard/index.js");
  const token = opts.dashboardToken ?? env.CARDLOOP_DASHBOARD_TOKEN;
  const publisher = new DashboardPublisher({ url, token: token || undefined, kind, runLog });
  process.stderr.write(`dashboard: ${publisher.url}\n`);
  return publisher;
}

/** How a shell reports a command a signal ended: 128 + the signal's number. */
const EXIT_ON_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;

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
  const restore = () => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.off(sig, onSignal);
  };
  function onSignal(sig: NodeJS.Signals): void {
    restore();
    signal = sig;
    writer?.close();
    void (publisher?.close() ?? Promise.resolve()).finally(() => process.exit(EXIT_ON_SIGNAL[sig as keyof typeof EXIT_ON_SIGNAL]));
  }
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
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
        restore();
      }
    },
  };
}
