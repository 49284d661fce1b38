// The dashboard's public face: the server (`cardloop dashboard`), its run
// store's types, and the publisher the drivers stream their events through.
//
// A publishing driver imports this module for DashboardPublisher: it must not
// pay for the server's express, ws and run store (nor load them into a run's
// process), so the server is imported only when startDashboard is called, and
// everything else of it is exported as types only (publisher.test.ts checks it).
import type { Dashboard, DashboardOptions } from "./server.js";

export type { Dashboard, DashboardOptions } from "./server.js";
export type { RunStore, PublishError, RunStoreOptions } from "./store.js";
export { DashboardPublisher, type PublisherOptions, type PublisherResult } from "./publisher.js";
export * from "./protocol.js";

/** Starts the dashboard (server.ts), loading the server's code on the first call. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const server = await import("./server.js");
  return server.startDashboard(opts);
}
