import { SystemClock, UsageError, type Clock } from "../../core/index.js";
import type { BulkRevocationResult, CaAdapter, RevocationReason, RevocationResult, RevokeRequest } from "../../simulator/ca/index.js";
import type { Shape } from "./config-keys.js";
import { InstantCa } from "./instant.js";
import { resolveAdapter } from "./resolve-target.js";
import { normSerial } from "../pkix.js";

/*
 * A wrapper making any CaAdapter misbehave the way a load run must survive
 * and report (issue 13): a CA that drops requests (connection resets) and one
 * that acknowledges revocations it never publishes. Everything else passes
 * through to the inner CA unchanged.
 */

export interface LoadFaults {
  /** Every n-th revocation request (single or bulk) fails as a reset connection would (throws an error classifyError classes "reset"), without reaching the CA. */
  dropEvery?: number;
  /** Acknowledges these revocations without ever sending them to the CA (a CA that acknowledges but never publishes): every n-th serial. */
  ackWithoutPublishingEvery?: number;
  /** Stamps the fake acknowledgements' revokedAt (default: the system clock). */
  clock?: Clock;
}

/** What node's net layer throws for a reset connection: the load run classes it by `code`. */
export class ConnectionResetError extends Error {
  readonly code = "ECONNRESET";
  constructor() {
    super("read ECONNRESET (dropped by the load-faults wrapper)");
    this.name = "ConnectionResetError";
  }
}

function positiveInt(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new UsageError(`${what} must be a whole number >= 1 (got ${JSON.stringify(v)})`);
  return v;
}

export function withLoadFaults(inner: CaAdapter, faults: LoadFaults): CaAdapter {
  const dropEvery = positiveInt(faults.dropEvery, "dropEvery");
  const ackEvery = positiveInt(faults.ackWithoutPublishingEvery, "ackWithoutPublishingEvery");
  const clock = faults.clock ?? new SystemClock();
  let requests = 0;
  let serials = 0;
  /** Counts revocation requests (single and bulk alike) and says whether this one is dropped. */
  const dropped = (): boolean => {
    requests++;
    return dropEvery !== undefined && requests % dropEvery === 0;
  };
  /** Counts serials and says whether this one is acknowledged without being sent. */
  const swallowed = (): boolean => {
    serials++;
    return ackEvery !== undefined && serials % ackEvery === 0;
  };

  // Without a revocation fault the inner CA's own methods serve (no wrapper call, no copy of a batch): the
  // wrapper must cost a load run against a fast CA nothing it does not need.
  const innerRevoke = inner.revoke.bind(inner);
  const innerRevokeMany = inner.revokeMany?.bind(inner);
  const revoke =
    dropEvery === undefined && ackEvery === undefined
      ? innerRevoke
      : async (req: RevokeRequest): Promise<RevocationResult> => {
          if (dropped()) throw new ConnectionResetError();
          if (swallowed()) return { serial: normSerial(req.serial), status: "revoked", reason: req.reason, revokedAt: clock.now() };
          return innerRevoke(req);
        };

  const revokeMany = ((): CaAdapter["revokeMany"] => {
    if (!innerRevokeMany || (dropEvery === undefined && ackEvery === undefined)) return innerRevokeMany;
    if (ackEvery === undefined)
      return async (list, reason, operatorToken) => {
        if (dropped()) throw new ConnectionResetError();
        return innerRevokeMany(list, reason, operatorToken);
      };
    return async (list: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult> => {
      if (dropped()) throw new ConnectionResetError();
      const sent = list.filter(() => !swallowed());
      const skipped = list.length - sent.length;
      if (sent.length === 0) return { revoked: skipped, revokedAt: clock.now(), unknown: [], alreadyRevoked: [] };
      const r = await innerRevokeMany(sent, reason, operatorToken);
      return { ...r, revoked: r.revoked + skipped };
    };
  })();

  // Other methods bound once, not at every access (the propagation watcher asks OCSP every few ms).
  const bound = new WeakMap<object, unknown>();
  // A prototype-preserving proxy: every other method (and optional ones the inner CA lacks) is the inner CA's own.
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "revoke") return revoke;
      if (prop === "revokeMany") return revokeMany;
      if (prop === "name") return `${target.name} (load faults${dropEvery ? `, drop every ${dropEvery}` : ""}${ackEvery ? `, ack without publishing every ${ackEvery}` : ""})`;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      let b = bound.get(v);
      if (b === undefined) bound.set(v, (b = (v as (...a: unknown[]) => unknown).bind(target)));
      return b;
    },
  });
}

/** --ca-config keys of `--ca module:conformance/adapters/load-faults.ts`. */
export const configKeys: { readonly [key: string]: Shape } = {
  inner: "string",
  innerConfig: "any",
  dropEvery: "number",
  ackWithoutPublishingEvery: "number",
};

/**
 * `--ca module:conformance/adapters/load-faults.ts --ca-config f.yaml` with
 * `{ inner: instant | embedded | URL | ..., innerConfig?: {...}, dropEvery?, ackWithoutPublishingEvery? }`:
 * the end-to-end tests' misbehaving CA, through the CLI like any user's module.
 */
export async function createAdapter(options: Record<string, unknown> & { clock: Clock }): Promise<CaAdapter> {
  const spec = options.inner ?? "instant";
  if (typeof spec !== "string" || spec === "") throw new UsageError("--ca-config inner must be instant, embedded, openssl, cfssl, a URL or module:PATH");
  const innerConfig = options.innerConfig ?? {};
  if (typeof innerConfig !== "object" || innerConfig === null || Array.isArray(innerConfig)) throw new UsageError("--ca-config innerConfig must be a mapping");
  const faults: LoadFaults = {
    dropEvery: positiveInt(options.dropEvery, "--ca-config dropEvery"),
    ackWithoutPublishingEvery: positiveInt(options.ackWithoutPublishingEvery, "--ca-config ackWithoutPublishingEvery"),
    clock: options.clock,
  };
  const inner = spec === "instant" ? await InstantCa.create({ clock: options.clock }) : await resolveAdapter(spec, innerConfig as Record<string, unknown>, options.clock);
  return withLoadFaults(inner, faults);
}
