/**
 * Secrets never reach a log, event, trace or report. Every event passes through
 * `redactSecrets` on its way into the bus, so a field named like a secret is
 * masked even if a caller forgets.
 */
const SECRET_KEY = /^(pin|puk|newPin|newPuk|oldPin|code|codes|cancellationCodes?|managementKey|mgmKey|privateKey|secret|password|token|operatorToken|raToken|answers|key)$/i;

export const MASK = "***";

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactSecrets<T>(value: T): T {
  return walk(value, 0) as T;
}

function walk(v: unknown, depth: number): unknown {
  if (depth > 32 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
  if (v instanceof Uint8Array || v instanceof Date) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    // A boolean carries no secret: `cancellationCodes: true` is a capability, `credentialsHeld.raToken: false` a fact.
    out[k] = isSecretKey(k) && x !== undefined && x !== null && typeof x !== "boolean" ? MASK : walk(x, depth + 1);
  }
  return out;
}
