import { setTimeout as sleep } from "node:timers/promises";
import { CaError } from "../../simulator/ca/index.js";
import type { Issued } from "./fixtures.js";
import { notJudged } from "./refusals.js";

/** How often, at most, one issuance of a batch is sent again after a 429 (too many requests at once). */
const BATCH_RETRIES = 30;
/** The longest one of those waits, whatever the CA asks. */
const BATCH_MAX_WAIT_MS = 5_000;

export interface Batch {
  issued: Issued[];
  /** What each refused request threw, for checks that read a refusal's status and reason. */
  rejections: unknown[];
  retried: number;
}

/**
 * `n` issuance requests at once. A CA may bound the requests one client has
 * in flight (the embedded CA's server: 16) and answer the rest 429 with
 * Retry-After: such a request is sent again after that wait (a little jitter
 * apart), up to BATCH_RETRIES times, and is not a failure.
 */
export async function issueConcurrently(n: number, issueOnce: () => Promise<Issued>): Promise<Batch> {
  let retried = 0;
  const one = async (): Promise<Issued> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await issueOnce();
      } catch (err) {
        if (!(err instanceof CaError && err.status === 429) || attempt >= BATCH_RETRIES) throw err;
        retried++;
        await sleep(Math.min(err.retryAfterMs ?? 1000, BATCH_MAX_WAIT_MS) + Math.floor(Math.random() * 250));
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: n }, one));
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
  // A missing credential stops every request alike: nothing about concurrency to judge.
  const credential = rejected.find((e) => e instanceof CaError && e.status === 401);
  if (credential) notJudged(credential);
  return {
    issued: settled.filter((s): s is PromiseFulfilledResult<Issued> => s.status === "fulfilled").map((s) => s.value),
    rejections: rejected,
    retried,
  };
}
