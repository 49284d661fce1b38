/**
 * A served embedded CA for the abuse tests, in its own process (so that its
 * memory can be read from /proc and its death seen): like `cardloop ca serve`,
 * plus the limits a test shortens and a control channel on stdin.
 *
 *   node --import=tsx test/abuse/serve-ca.ts <dataDir> [limits as JSON]
 *
 * Tokens come from CA_OPERATOR_TOKEN and CA_RA_TOKEN. It prints its base URL
 * alone on a line, then one line per CRL event: `event {"type":..., ...}`.
 * stdin lines make real SQLite faults, each answered `ok <command>`:
 *   full      max_page_count = the current page count (writes that need a page: SQLITE_FULL)
 *   space     max_page_count back to SQLite's largest
 *   readonly  PRAGMA query_only = 1 (every write: SQLITE_READONLY)
 *   writable  PRAGMA query_only = 0
 * It installs no uncaughtException handler: an error thrown from a timer ends it, as it would end the CA.
 */
import { createInterface } from "node:readline";
import { EventBus, SystemClock } from "../../core/index.js";
import { EmbeddedCa, startCaServer } from "../../simulator/ca/index.js";

const [dataDir, limitsJson] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: serve-ca.ts <dataDir> [limits JSON]");
const clock = new SystemClock();
const events = new EventBus(clock);
events.on((e) => {
  if (e.type === "ca.crl" || e.type === "ca.crl-failed") process.stdout.write(`event ${JSON.stringify({ type: e.type, ...e.data })}\n`);
});
const ca = await EmbeddedCa.open({
  dataDir,
  clock,
  events,
  kdfLog2N: 4,
  operatorToken: process.env.CA_OPERATOR_TOKEN,
  raToken: process.env.CA_RA_TOKEN,
  crlDebounceMs: Number(process.env.CA_CRL_DEBOUNCE_MS ?? 500),
});
const server = await startCaServer(ca, { port: 0, limits: limitsJson ? JSON.parse(limitsJson) : undefined });
process.stdout.write(`${server.url}\n`);

const db = ca.store.db;
const commands: Record<string, () => void> = {
  full: () => db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`),
  space: () => db.pragma("max_page_count = 4294967294"),
  readonly: () => db.pragma("query_only = 1"),
  writable: () => db.pragma("query_only = 0"),
};
const control = createInterface({ input: process.stdin });
control.on("line", (line) => {
  const command = commands[line.trim()];
  if (!command) return process.stdout.write(`unknown ${line.trim()}\n`);
  command();
  process.stdout.write(`ok ${line.trim()}\n`);
});

const stop = async () => {
  await server.close();
  await ca.close();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
// The test that started it is gone (its end of stdin closed): do not outlive it.
control.on("close", stop);
