import { runPageHash } from "../protocol.js";
import type { Change } from "./live-runs.js";

/** The page's places, in location.hash: `#/`, `#/run/<id>`, `#/compare/<a>/<b>` (ids URI-encoded: a file run's id may hold "/"). */

export type Route = { view: "runs" } | { view: "run"; id: string } | { view: "compare"; a: string; b: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/");
  try {
    if (parts[0] === "run" && parts.length === 2 && parts[1] !== "") return { view: "run", id: decodeURIComponent(parts[1]) };
    if (parts[0] === "compare" && parts.length === 3 && parts[1] !== "" && parts[2] !== "") {
      return { view: "compare", a: decodeURIComponent(parts[1]), b: decodeURIComponent(parts[2]) };
    }
  } catch {
    // a malformed %-escape: not a place on this page
  }
  return { view: "runs" };
}

/** A run's place (protocol.ts: the publisher prints it too). */
export const runHref = runPageHash;
export const compareHref = (a: string, b: string): string => `#/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`;

/** The runs a place shows, whose events the page subscribes to. */
export function runsOnScreen(route: Route): string[] {
  if (route.view === "run") return [route.id];
  if (route.view === "compare") return route.a === route.b ? [route.a] : [route.a, route.b];
  return [];
}

/**
 * Whether a change of the page's state concerns the place on screen: the
 * list for the runs view, a run's events or summary for the views showing
 * that run. Nothing else is rebuilt (a busy dashboard changes some run
 * several times a second; the view of another must not pay for it).
 */
export function concerns(route: Route, change: Change): boolean {
  if (change.what === "runs") return route.view === "runs";
  if (change.what === "run") return runsOnScreen(route).includes(change.id);
  return false;
}
