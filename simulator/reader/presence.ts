import type { Reader } from "./reader.js";

/**
 * Resolves at the first presence event saying `want` (inserted or removed);
 * rejects with `onTimeout()` after `timeoutMs`. The listener is gone either way.
 */
export function waitPresence(reader: Pick<Reader, "onPresence">, want: boolean, timeoutMs: number, onTimeout: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(onTimeout());
    }, timeoutMs);
    const off = reader.onPresence((p) => {
      if (p !== want) return;
      clearTimeout(t);
      off();
      resolve();
    });
  });
}
