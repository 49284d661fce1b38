/*
 * Small helpers the load phases share for what they write into a summary:
 * figures rounded to a microsecond, an error as one bounded line.
 */

/** Three decimals: milliseconds to the microsecond, rates to a thousandth. */
export const round = (n: number): number => Math.round(n * 1000) / 1000;

/** An error's first line, bounded: what a phase says when it could not run (never a request's body). */
export const oneLine = (err: unknown): string => String((err as Error)?.message ?? err).split("\n")[0].slice(0, 200);
