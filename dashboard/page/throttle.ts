/**
 * Runs `fn` at most once per `ms`: at once when idle, else once at the end
 * of the interval, however many calls came in it. The views rebuild from all
 * of a run's events; while they arrive, ~4 rebuilds a second are plenty.
 */
export function throttle(fn: () => void, ms: number): () => void {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    last = Date.now();
    fn();
  };
  return () => {
    if (timer !== undefined) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
}
