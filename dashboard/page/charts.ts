import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Title,
  Tooltip,
  type ChartDataset,
} from "chart.js";
import { el } from "./dom.js";

/**
 * chart.js, bundled from node_modules with only what the views draw: bar
 * charts (APDU time, histograms) and line charts (load figures over time,
 * also as dots without lines). Charts are updated in place as events arrive,
 * so Chart.getChart(canvas) stays the same chart for a canvas's life.
 */
Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip, Title);

export { Chart };

const PALETTE = ["#2f6fb0", "#d9822b", "#3c9a5f", "#b83b5e", "#7a5cb8", "#8a6d3b"];

export interface ChartSpec {
  type: "bar" | "line";
  title?: string;
  /** Category labels (bar charts); line charts plot {x, y} points on a linear x axis. */
  labels?: string[];
  datasets: Array<{ label: string; data: number[] | Array<{ x: number; y: number }>; dotsOnly?: boolean }>;
  xTitle?: string;
  yTitle?: string;
}

/** A canvas in a box the stylesheet sizes (chart.js fills its parent: responsive, no fixed aspect). */
export function chartBox(name: string): { box: HTMLDivElement; canvas: HTMLCanvasElement } {
  const canvas = el("canvas", { "data-chart": name, role: "img", "aria-label": name });
  return { box: el("div", { class: "chart-box" }, canvas), canvas };
}

/** Draws the spec on the canvas, or updates the chart already there (no new Chart per rebuild). */
export function drawChart(canvas: HTMLCanvasElement, spec: ChartSpec): Chart {
  const datasets = spec.datasets.map((d, i) => dataset(spec.type, d, i));
  const existing = Chart.getChart(canvas);
  if (existing && (existing.config as { type?: string }).type === spec.type) {
    existing.data.labels = spec.labels ?? [];
    const current = existing.data.datasets;
    datasets.forEach((d, i) => {
      // in place, so a series the user hid from the legend stays hidden
      if (current[i]) Object.assign(current[i], { label: d.label, data: d.data });
      else current.push(d);
    });
    current.length = datasets.length;
    existing.update("none");
    return existing;
  }
  existing?.destroy();
  const linear = spec.type === "line";
  return new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels ?? [], datasets: datasets as never },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: linear ? false : undefined,
      plugins: {
        legend: { display: spec.datasets.length > 1 },
        title: { display: spec.title !== undefined, text: spec.title ?? "" },
      },
      scales: {
        x: { type: linear ? "linear" : "category", title: { display: spec.xTitle !== undefined, text: spec.xTitle ?? "" } },
        y: { beginAtZero: true, title: { display: spec.yTitle !== undefined, text: spec.yTitle ?? "" } },
      },
    },
  });
}

function dataset(type: ChartSpec["type"], d: ChartSpec["datasets"][number], i: number): ChartDataset<"bar" | "line"> {
  const color = PALETTE[i % PALETTE.length];
  if (type === "bar") return { label: d.label, data: d.data as number[], backgroundColor: color } as ChartDataset<"bar">;
  return {
    label: d.label,
    data: d.data as Array<{ x: number; y: number }>,
    borderColor: color,
    backgroundColor: color,
    showLine: !d.dotsOnly,
    // dots hide the line on long series: only the dots-only series and short ones get them
    pointRadius: d.dotsOnly ? 3 : d.data.length > 200 ? 0 : 2,
    borderWidth: 2,
  } as ChartDataset<"line">;
}

/** Lets go of the charts under a node (a view being replaced). */
export function destroyCharts(root: ParentNode): void {
  for (const canvas of root.querySelectorAll("canvas")) Chart.getChart(canvas)?.destroy();
}
