/**
 * What the dashboard's server, its page and the drivers' publisher agree on:
 * the run summary, the publish batch and the websocket messages. Written down
 * for people in dashboard/README.md; this file is the contract the code checks.
 * Imports nothing but types, so the page bundles it as it is (its functions
 * use only what a browser has too).
 */

/** Bumped when a message changes shape; every message carries it as `v`. */
export const PROTOCOL_VERSION = 1;

/** A run id chosen by a publisher: safe in a URL path segment and as a directory name. */
export const PUBLISHED_RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const LIMITS = {
  /** One publish request's body, enforced as bytes arrive (413 beyond). */
  publishBodyBytes: 8 * 1024 * 1024,
  /** Events in one publish batch (400 beyond). */
  publishBatchEvents: 10_000,
  /** A publish request's whole life, headers to last byte (408 beyond). */
  publishRequestMs: 30_000,
  /** One message a page sends over the websocket (the socket is closed beyond). */
  clientMessageBytes: 64 * 1024,
  /** Events in one `events` message the server sends. */
  eventsPerMessage: 2_000,
  /** A page's unsent bytes above which the server stops sending to it until it drains. */
  highWaterBytes: 4 * 1024 * 1024,
  /** A page that has not drained below the high-water mark for this long is closed (STALLED_CLOSE_CODE). */
  stalledMs: 60_000,
  /** Arrays and objects nested in a publish body, the batch's own levels included (400 beyond, before it is parsed). */
  publishJsonDepth: 64,
} as const;

/** The websocket close code for a page closed because it stopped reading (LIMITS.stalledMs). */
export const STALLED_CLOSE_CODE = 4008;

/** A run's place on the page, in its URL's fragment (after the dashboard's URL). */
export function runPageHash(id: string): string {
  return `#/run/${encodeURIComponent(id)}`;
}

/**
 * The dashboard's address as --dashboard, $CARDLOOP_DASHBOARD and --public-url
 * give it: an http(s) origin, as `scheme://host[:port]/`. The page, the API and
 * the websocket live at the root, so a path could not work; credentials, a
 * query or a fragment are refused as well. The reason starts with `source`
 * and never repeats the value: it may hold a password.
 */
export function parseDashboardUrl(value: string, source: string): { url: string } | { error: string } {
  let url: URL | undefined;
  try {
    url = new URL(value.trim());
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    return { error: `${source} must be an http:// or https:// URL such as http://127.0.0.1:8450/ or https://cardloop.example/` };
  }
  if (url.username !== "" || url.password !== "" || url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    return { error: `${source} must be the dashboard's origin only (scheme://host[:port]/): it is served at the root, without credentials` };
  }
  return { url: `${url.origin}/` };
}

export type RunKind = "scenario" | "certify" | "qualify-reader" | "load" | (string & {});

/**
 * One run as the list shows it, rebuilt from its events (never from a
 * publisher's say-so, except `origin`). "running" until the run log holds a
 * run.finished for every run.started and, for a published run, the publisher
 * said it is done.
 */
export interface RunSummary {
  id: string;
  kind: RunKind;
  /** The first run.started's name ("full lifecycle", "certify embedded", ...); a scenario run with several files says "N scenarios". */
  name: string;
  /** The CA (certify, load, scenarios) or the reader (qualify-reader) the run drove. */
  target?: string;
  /** Wall-clock ISO time the dashboard first saw the run (published), or the run log's last change less the run's wall duration (file; its creation time until a duration is known). */
  startedAt: string;
  /** Wall-clock ISO time of the last event received or of the file's last change. */
  updatedAt: string;
  durationMs: number;
  verdict: "running" | "pass" | "fail" | "incomplete";
  /** One line in the reports' words: "11/11 scenarios passed in 0.43 s", "cfssl: FAIL (exit status 1); 55 checks: 3 defects, ...". */
  headline: string;
  /** Figures behind the headline, by name (scenario: passed/failed/total; certify: one per row class). */
  counts: Record<string, number>;
  /** Events the dashboard holds: the next event's sequence number. */
  events: number;
  /** Events the publisher sent past a gap it could not fill: the run log has them, the dashboard does not. */
  dropped: number;
  source: "published" | "file";
  /**
   * Which copy of the run the events belong to. A published run is append-only: its
   * generation never changes. A file run's log can be rewritten (every `cardloop demo`
   * rewrites reports/out/latest): each time the store indexes it anew, and each time the
   * dashboard starts, it gets a new generation. A page holding events of another
   * generation drops them and starts again from 0.
   */
  generation: string;
  /** Where a published run's log is written by its driver (host and path), as the publisher said. */
  origin?: Origin;
}

/** Where a published run's log is written by its driver: its host and the run log's path. */
export type Origin = { host?: string; runLog?: string };

/** POST /api/v1/runs/:id/events (Authorization: Bearer TOKEN). */
export interface PublishBatch {
  v: typeof PROTOCOL_VERSION;
  /** The run-log position of events[0]: a resend overlapping what is held is skipped, a jump is a gap (counted in `dropped`). */
  from: number;
  /** Run-log events, as the run log has them. */
  events: unknown[];
  /** The publisher is done: no more events for this run. */
  final?: boolean;
  origin?: Origin;
}

export interface PublishAnswer {
  /** Events appended by this request. */
  accepted: number;
  /** The run-log position the dashboard expects next from this publisher. */
  next: number;
}

/** Page -> server. */
export type ClientMessage =
  | { v: 1; type: "runs.subscribe" }
  | {
      v: 1;
      type: "run.subscribe";
      run: string;
      /** the first sequence number the page does not hold yet (0 for all) */
      from: number;
      /** the generation of the events the page holds (with from > 0): another one is answered with resync "replaced" from 0 */
      generation?: string;
    }
  | { v: 1; type: "run.unsubscribe"; run: string };

/** Server -> page. */
export type ServerMessage =
  | { v: 1; type: "hello"; version: string; protocol: number }
  | { v: 1; type: "runs"; runs: RunSummary[] }
  | { v: 1; type: "run"; run: RunSummary }
  /** Events of one run with sequence numbers from, from+1, ...: never a gap, never a repeat for one subscription. */
  | { v: 1; type: "events"; run: string; from: number; events: unknown[] }
  /**
   * Drop whatever you hold of this run from `from` on: the next `events` start there.
   * Sent when the page fell behind (events were held back, `from` is where the page is),
   * when it asked from beyond the run's end, and when the run's log was rewritten (`from` 0).
   */
  | { v: 1; type: "resync"; run: string; from: number; reason: "slow" | "replaced" }
  | { v: 1; type: "error"; message: string; run?: string };
