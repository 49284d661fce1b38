import type { EventBus } from "../core/index.js";

/**
 * certify's live progress on stderr: one line per check as it finishes (so a
 * CI log shows where a long run is), and on a terminal a bar below them,
 * redrawn in place.
 */
export function certifyProgress(bus: EventBus, out: NodeJS.WriteStream, total: number): { close(): void } {
  const tty = out.isTTY === true;
  let done = 0;
  let current = "";
  const t0 = Date.now();
  const bar = () => {
    const width = 24;
    const filled = total ? Math.round((done / total) * width) : width;
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${secs}s ${current}`;
  };
  const redraw = () => {
    if (tty) out.write(`\r\x1b[2K${bar()}`);
  };
  const off = bus.on((e) => {
    if (e.type === "check.started") {
      current = e.data.id;
      redraw();
    } else if (e.type === "check.finished") {
      done++;
      const d = e.data;
      const tag = d.outcome === "error" ? "NOT JUDGED" : d.madeBy === "adapter" && d.outcome === "fail" ? "FAIL (adapter-made)" : d.outcome.toUpperCase();
      const line = `[${String(done).padStart(String(total).length)}/${total}] ${tag.padEnd(10)} ${d.level.padEnd(6)} ${d.id} (${Math.round(d.durationMs ?? 0)} ms)${d.outcome === "pass" ? "" : `: ${d.message ?? ""}`}`;
      out.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
      current = "";
      redraw();
    }
  });
  return {
    close() {
      off();
      if (tty) out.write("\r\x1b[2K");
    },
  };
}
