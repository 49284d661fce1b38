/** Whether a parsed JSON value is an object (not null, not an array): the first check on anything read from outside. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
