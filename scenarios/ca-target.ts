import { UsageError, isDeterministic, type Clock, type LifecyclePolicy, type Random } from "../core/index.js";
import { EmbeddedCa, type CaAdapter } from "../simulator/ca/index.js";

export interface CaTargetOptions {
  clock: Clock;
  random: Random;
  policy: LifecyclePolicy;
}

/** A CA ready for a run, and how its time relates to the run's. */
export interface OpenedCa {
  ca: CaAdapter;
  /**
   * Set when the CA keeps its own time (a served CA): the run cannot start
   * before it, so a scenario that starts earlier is moved forward by whole
   * days until it does not; one that starts later keeps its start.
   */
  now?: Date;
  /** Moves the CA's clock along with the scenario's (a served CA's virtual clock). */
  advanceTo?: (time: Date) => Promise<void>;
  /** Other runs use this CA too: holder ids are made unique per run. */
  shared?: boolean;
}

export type CaFactory = (target: string, opts: CaTargetOptions) => Promise<OpenedCa>;

/**
 * Where a scenario's CA comes from, keyed by target. "embedded" is an
 * in-memory embedded CA on the scenario's virtual clock, seeded from the
 * scenario's seed so that serials, codes, keys and signatures repeat (one
 * seed, the same run log). Other targets (a URL of a
 * served CA through an HTTP CaAdapter, an OpenSSL or CFSSL adapter) plug in
 * with `registerCaTarget` (the CLI registers URLs).
 */
const TARGETS: { matches: (target: string) => boolean; open: CaFactory }[] = [
  {
    matches: (t) => t === "embedded",
    open: async (_t, opts) => ({
      ca: await EmbeddedCa.open({
        clock: opts.clock,
        random: opts.random,
        policy: opts.policy,
        deterministic: isDeterministic(opts.random),
        // A throwaway CA: cheaper hashing of cancellation codes keeps a scenario in milliseconds.
        kdfLog2N: 10,
      }),
    }),
  },
];

export function registerCaTarget(matches: (target: string) => boolean, open: CaFactory): void {
  TARGETS.unshift({ matches, open });
}

export async function openCa(target: string, opts: CaTargetOptions): Promise<OpenedCa> {
  const t = TARGETS.find((x) => x.matches(target));
  if (t) return t.open(target, opts);
  if (/^https?:\/\//.test(target)) {
    throw new UsageError(`CA target ${target}: no HTTP CaAdapter is registered for URLs`);
  }
  throw new UsageError(`unknown CA target "${target}" (available: embedded)`);
}
