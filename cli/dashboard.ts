import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { action, listenError, untilStopSignal, usage } from "./exit.js";

interface DashboardCliOptions {
  port: string;
  host: string;
  runs: string;
  publicUrl?: string;
}

/** `cardloop dashboard`: every run, live and in history, in a browser. */
export function register(program: Command): void {
  program
    .command("dashboard")
    .description("serve the live dashboard of runs (the run logs under --runs and the runs drivers publish to it); prints its URL and publish token")
    .option("--port <port>", "TCP port (0: any free port)", "8450")
    .option(
      "--host <host>",
      "address to listen on (0.0.0.0 or :: to be reached from other machines). Browsers reach it by IP address (and its port), localhost or this host; by any other name only with --public-url (DNS rebinding needs a name: other Hosts get 421)",
      "127.0.0.1",
    )
    .option("--runs <dir>", "directory of run logs (run.jsonl) to index; published runs are kept under <dir>/published", "reports/out")
    .option("--public-url <url>", "where browsers reach it through a proxy (https://cardloop.example/): accepted as the page's origin and Host, and the URL printed")
    .action(
      action(async (o: DashboardCliOptions) => {
        const port = /^\d{1,5}$/.test(o.port) ? Number(o.port) : NaN;
        if (!(port >= 0 && port <= 65535)) usage(`--port must be 0..65535 (got ${o.port})`);
        if (o.host.trim() === "") usage("--host must name an address");
        if (existsSync(o.runs) && !statSync(o.runs).isDirectory()) usage(`--runs ${o.runs}: not a directory`);
        const { startDashboard } = await import("../dashboard/index.js");
        let dashboard;
        try {
          // The environment's token, as it is: startDashboard resolves and checks it (security.ts resolveToken), the one path for every caller.
          dashboard = await startDashboard({ port, host: o.host, runsDir: o.runs, token: process.env.CARDLOOP_DASHBOARD_TOKEN, publicUrl: o.publicUrl });
        } catch (err) {
          throw listenError(err, o.host, port);
        }
        // The token is printed here, once, and nowhere else.
        process.stdout.write(
          `cardloop dashboard: ${dashboard.url}\n` +
            `publish token: ${dashboard.token}\n` +
            `export CARDLOOP_DASHBOARD=${dashboard.url} CARDLOOP_DASHBOARD_TOKEN=${dashboard.token}\n`,
        );
        await untilStopSignal();
        await dashboard.close();
      }),
    );
}
