import { classifyRow, type EventBus, type VerdictRules } from "../core/index.js";
import { resultLabel } from "../reports/index.js";

/**
 * certify's live progress on stderr: one line per check as it finishes (so a
 * CI log shows where a long run is), and on a terminal a bar below them,
 * redrawn in place.
 */
export function certifyProgress(bus: EventBus, out: NodeJS.WriteStream, total: number, rules: VerdictRules): { close(): void } {
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
      // The same words as the summary and the reports: a SHOULD failure is a warning unless --strict.
      const tag = resultLabel({ class: classifyRow(d, rules), madeBy: d.madeBy });
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
