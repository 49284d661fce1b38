// The dashboard's public face: the server (`cardloop dashboard`), the
// publisher the drivers stream their events through, and the protocol they
// and the page share (its types, and the one parser of a dashboard's URL).
//
// A publishing driver imports this module for DashboardPublisher: it must not
// pay for the server's express, ws and run store (nor load them into a run's
// process), so the server is imported only when startDashboard is called, and
// everything else of it is exported as types only (test/dashboard-drivers.test.ts
// checks it). The CLI imports it at start-up for parseDashboardUrl: the
// publisher loads undici only at its first request.
import type { Dashboard, DashboardOptions } from "./server.js";

export type { Dashboard, DashboardOptions } from "./server.js";
export { DashboardPublisher, type PublisherOptions, type PublisherResult } from "./publisher.js";
export { parseDashboardUrl } from "./protocol.js";
export type { ClientMessage, PublishAnswer, PublishBatch, RunKind, RunSummary, ServerMessage } from "./protocol.js";

/** Starts the dashboard (server.ts), loading the server's code on the first call. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const server = await import("./server.js");
  return server.startDashboard(opts);
}
