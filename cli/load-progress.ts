import { LOAD_METRICS, type EventBus } from "../core/index.js";

/*
 * `cardloop load revoke`'s live progress on stderr: on a terminal one line
 * rewritten in place (phase, done/total, rate, p50/p99 so far, errors, ETA);
 * otherwise (a CI log) a plain line every few seconds and at each phase's
 * start and end. Figures come from the bus's metric.sample and load.phase
 * events; the counts (done) from the run's hooks.
 */

export interface LoadProgress {
  /** A phase started with `total` things to do (0: not counted). */
  phase(name: string, total: number): void;
  /** Where the phase is: `done` of its total so far. */
  done(n: number): void;
  /** One more done. */
  tick(): void;
  close(): void;
}

export interface ProgressOptions {
  /** How often a terminal line is redrawn, ms. */
  redrawMs?: number;
  /** How often a plain line is written when stderr is not a terminal, ms. */
  plainEveryMs?: number;
  /** Whether `out` is a terminal (default: out.isTTY). */
  tty?: boolean;
  now?: () => number;
}

export function loadProgress(bus: EventBus, out: NodeJS.WritableStream & { isTTY?: boolean }, o: ProgressOptions = {}): LoadProgress {
  const tty = o.tty ?? out.isTTY === true;
  const now = o.now ?? (() => performance.now());
  let phase = "starting";
  let total = 0;
  let done = 0;
  let phaseStart = now();
  let rate = NaN;
  let p50 = NaN;
  let p99 = NaN;
  const errors = new Map<string, number>();

  const line = () => {
    const secs = (now() - phaseStart) / 1000;
    const errs = [...errors.values()].reduce((s, n) => s + n, 0);
    const left = total - done;
    // The phase's own average when no interval rate was sampled yet (prepare of a fast CA, the first second).
    const r = Number.isFinite(rate) && rate > 0 ? rate : secs > 0 && done > 0 ? done / secs : NaN;
    const eta = total > 0 && left > 0 && r > 0 ? `ETA ${fmtSecs(left / r)}` : "";
    return [
      // A phase without a count (verify) shows how long it has run only.
      total > 0 ? `${phase.padEnd(7)} ${done}/${total}` : phase.padEnd(7),
      total > 0 && Number.isFinite(r) ? `${fmtNum(r)}/s` : "",
      Number.isFinite(p50) ? `p50 ${fmtMs(p50)} p99 ${fmtMs(p99)}` : "",
      `errors ${errs}`,
      `${fmtSecs(secs)}`,
      eta,
    ]
      .filter(Boolean)
      .join("  ");
  };
  let lastPlain = now();
  const draw = () => {
    if (tty) out.write(`\r\x1b[2K${line()}`);
    else if (now() - lastPlain >= (o.plainEveryMs ?? 5000)) plain();
  };
  const plain = () => {
    lastPlain = now();
    out.write(tty ? `\r\x1b[2K${line()}\n` : `${line()}\n`);
  };
  const timer = setInterval(draw, tty ? (o.redrawMs ?? 250) : 1000);
  timer.unref();

  const off = bus.on((e) => {
    if (e.type === "metric.sample") {
      const d = e.data;
      if (d.name === LOAD_METRICS.throughput && (d.labels?.phase ?? phase) === phase) rate = d.value;
      else if (d.name === LOAD_METRICS.latencyP50) p50 = d.value;
      else if (d.name === LOAD_METRICS.latencyP99) p99 = d.value;
      else if (d.name === LOAD_METRICS.errors) errors.set(d.labels?.class ?? "all", d.value);
    } else if (e.type === "load.phase" && e.data.state === "finished") {
      // The phase's last figures stay in the log as one line.
      plain();
    }
  });

  return {
    phase(name, n) {
      phase = name;
      total = n;
      done = 0;
      rate = NaN;
      // the revoke phase's latency is not the verify phase's: a new phase starts without figures
      p50 = NaN;
      p99 = NaN;
      phaseStart = now();
      if (!tty) plain();
    },
    done(n) {
      done = n;
    },
    tick() {
      done++;
    },
    close() {
      clearInterval(timer);
      off();
      if (tty) out.write("\r\x1b[2K");
    },
  };
}

function fmtNum(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : ms >= 10 ? `${Math.round(ms)}ms` : `${ms.toFixed(2)}ms`;
}

function fmtSecs(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
}
