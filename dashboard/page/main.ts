import { Chart } from "./charts.js";
import { Connection, dashboardSocketUrl, type ConnectionState } from "./connection.js";
import { el } from "./dom.js";
import { LiveRuns, type Change } from "./live-runs.js";
import { concerns, parseRoute, runsOnScreen, type Route } from "./router.js";
import { throttle } from "./throttle.js";
import { CompareView } from "./views/compare-view.js";
import { RunView } from "./views/run-view.js";
import { RunsView } from "./views/runs-view.js";

/**
 * The dashboard's page: one websocket (connection.ts), the state it feeds
 * (live-runs.ts), and the view of the place in location.hash, rebuilt at
 * most 4 times a second while messages that concern it arrive (router.ts's
 * `concerns`: the list for the runs view, its runs for a run or compare view).
 */

// the browser tests find a canvas's chart with Chart.getChart(canvas)
(window as unknown as { Chart: typeof Chart }).Chart = Chart;

type Screen = { route: Route; view: RunsView | RunView | CompareView };

const viewRoot = document.getElementById("view") as HTMLElement;
const notices = document.getElementById("notices") as HTMLElement;
const status = document.getElementById("connection") as HTMLElement;

const live = new LiveRuns((m) => connection.send(m), changed);
const connection = new Connection(dashboardSocketUrl(location), {
  opened: () => live.connected(),
  message: (m) => live.receive(m),
  state: showState,
});
let screen: Screen | undefined;
const render = throttle(renderNow, 250);

function changed(change: Change): void {
  if (change.what === "notice") notice(change.text, change.kind, change.key);
  else if (screen && concerns(screen.route, change)) render();
}

function renderNow(): void {
  if (!screen) return;
  const { route, view } = screen;
  if (view instanceof RunsView) view.update(live.sortedRuns());
  else if (view instanceof RunView && route.view === "run") {
    view.update(live.run(route.id));
    document.title = `${live.run(route.id)?.summary?.name ?? route.id} · cardloop dashboard`;
  } else if (view instanceof CompareView && route.view === "compare") {
    const data = (id: string) => {
      const w = live.run(id);
      return { id, summary: w?.summary, events: w?.events.events ?? [] };
    };
    view.update(data(route.a), data(route.b));
  }
}

function navigate(): void {
  const route = parseRoute(location.hash);
  screen?.view.destroy();
  const view = route.view === "run" ? new RunView(route.id) : route.view === "compare" ? new CompareView(route.a, route.b) : new RunsView();
  screen = { route, view };
  if (route.view !== "run") document.title = "cardloop dashboard";
  live.watch(runsOnScreen(route), connection.isOpen);
  viewRoot.replaceChildren(view.root);
  renderNow();
  window.scrollTo(0, 0);
}

function showState(state: ConnectionState, detail: string): void {
  status.dataset.state = state;
  status.textContent = state === "open" ? "live" : "reconnecting…";
  status.title = detail;
}

/**
 * A notice at the top of the page. One with the same key (or, without a key,
 * the same words) is updated in place, its count bumped, instead of stacking.
 */
function notice(text: string, kind: "info" | "warning", key = text): void {
  const same = [...notices.children].find((n) => (n as HTMLElement).dataset.key === key) as HTMLElement | undefined;
  if (same) {
    const times = Number(same.dataset.times ?? "1") + 1;
    same.dataset.times = String(times);
    same.querySelector(".text")!.textContent = text;
    same.querySelector(".times")!.textContent = ` (${times} times)`;
    return;
  }
  const close = el("button", { type: "button", class: "dismiss", "aria-label": "dismiss" }, "×");
  const n = el("div", { class: "notice", "data-kind": kind, "data-key": key, "data-times": 1 }, el("span", { class: "text" }, text), el("span", { class: "times" }), close);
  close.addEventListener("click", () => n.remove());
  notices.appendChild(n);
}

window.addEventListener("hashchange", navigate);
navigate();
connection.start();
