import { UsageError } from "../../core/index.js";
import type { CaCapabilities } from "../../simulator/ca/index.js";
import type { CfsslOptions } from "./cfssl.js";
import type { EmbeddedAdapterOptions } from "./embedded.js";
import type { HttpAdapterOptions } from "./http.js";
import type { OpensslOptions } from "./openssl.js";

/**
 * What a --ca-config value may be: free-form ("any", e.g. an OpenSSL
 * extension line or a duration checked elsewhere), a YAML scalar type, one of
 * some strings, or a mapping with known keys. A misspelt key or a `no` where
 * `false` was meant would otherwise be silently the default: a CA judged under
 * a configuration its user never chose.
 */
export type Shape = "any" | "string" | "number" | "boolean" | readonly string[] | { readonly [key: string]: Shape };

/** Every option of T has a shape: an option added to an adapter without one fails to compile here. */
type ShapeOf<T> = { readonly [K in keyof Required<T>]: Shape };

const OPENSSL_CRL = {
  regenerate: ["on-request", "never"],
  validitySeconds: "number",
  stale: "boolean",
  number: ["increasing", "absent", "reset"],
  aki: "boolean",
  entries: ["faithful", "strip-reasons", "restamp-dates"],
} as const satisfies ShapeOf<NonNullable<OpensslOptions["crl"]>>;

const OPENSSL_OCSP = {
  signer: ["delegated", "ca", "rogue"],
  index: ["live", "drop-valid", "revoked-as-good", "strip-reasons", "good-for-unknown"],
  validityMinutes: "number",
} as const satisfies ShapeOf<NonNullable<OpensslOptions["ocsp"]>>;

const CFSSL_OCSP = {
  refreshAfterRevoke: "boolean",
  refreshDelayMs: "number",
  interval: "string",
} as const satisfies ShapeOf<NonNullable<CfsslOptions["ocsp"]>>;

const CAPABILITIES = {
  renew: "boolean",
  hold: "boolean",
  authorisation: "boolean",
  cancellationCodes: "boolean",
  cardExpiryCap: "boolean",
  crl: "boolean",
  ocsp: "boolean",
  ocspGet: "boolean",
  bulkRevoke: "boolean",
  virtualClock: "boolean",
  renewalAuthorisation: "boolean",
  issuanceAuthorisation: "boolean",
  revokesAgain: "boolean",
  // unrecordedReasons is a list, which no Shape checks: a CA that cannot record some reasons says so from its adapter.
} as const satisfies ShapeOf<Omit<CaCapabilities, "unrecordedReasons">>;

/** The keys each shipped adapter takes from --ca-config (`clock` and in-process objects are not YAML). */
export const CONFIG_KEYS = {
  openssl: {
    validity: "any",
    validityDays: "number",
    honourCardExpiry: "boolean",
    notBeforeOffsetSeconds: "number",
    sequentialSerialFrom: "string",
    profiles: { authentication: "any", signature: "any" }, // extension lines: OpenSSL judges their names
    crl: OPENSSL_CRL,
    ocsp: OPENSSL_OCSP,
  } as const satisfies ShapeOf<Omit<OpensslOptions, "clock">> & { validity: Shape },
  cfssl: {
    validity: "any",
    validityHours: "number",
    usages: { authentication: "any", signature: "any" }, // CFSSL's own words, which it does not check
    crl: { regenerate: ["on-request", "never"] } as const satisfies ShapeOf<NonNullable<CfsslOptions["crl"]>>,
    ocsp: CFSSL_OCSP,
  } as const satisfies ShapeOf<CfsslOptions> & { validity: Shape },
  embedded: {
    dataDir: "string",
    keyType: ["ec", "rsa"],
    hsm: "any",
    baseUrl: "string",
    name: "string",
    maxValidityYears: "number",
    maxFailedAttempts: "number",
    renewal: ["revoke-superseded", "keep-until-expiry"],
    crlValidityMs: "number",
    rootCrlValidityMs: "number",
    crlDebounceMs: "number",
    crlMaxDelayMs: "number",
    crlScheduleMs: "number",
    crlBuild: ["worker", "sync"],
    renewalChallengeMs: "number",
    ocspValidityMs: "number",
    ocspMaxNonceOctets: "number",
    kdfLog2N: "number",
    operatorToken: "string",
    raToken: "string",
    serve: "boolean",
    // deterministic: only with a seeded random, which --ca-config cannot give (scenarios set both)
  } as const satisfies ShapeOf<Omit<EmbeddedAdapterOptions, "clock" | "random" | "events" | "policy" | "deterministic">>,
  // url is --ca itself
  http: { operatorToken: "string", raToken: "string", capabilities: CAPABILITIES, timeoutMs: "number", connections: "number" } as const satisfies ShapeOf<Omit<HttpAdapterOptions, "url">>,
} as const;

/**
 * A module adapter's own `configKeys` export, checked before it is used: a
 * mapping whose every value is a Shape. Refuses in one line what is not.
 */
export function moduleShape(value: unknown, module: string): { readonly [key: string]: Shape } {
  const bad = (why: string) => new UsageError(`adapter module ${module}: configKeys ${why}`);
  const check = (v: unknown, at: string): void => {
    if (v === "any" || v === "string" || v === "number" || v === "boolean") return;
    if (Array.isArray(v)) {
      if (v.length === 0 || !v.every((x) => typeof x === "string")) throw bad(`${at} must list strings`);
      return;
    }
    if (v === null || typeof v !== "object") throw bad(`${at} must be "any", "string", "number", "boolean", a list of strings or a mapping (got ${JSON.stringify(v)})`);
    for (const [k, inner] of Object.entries(v)) check(inner, at ? `${at}.${k}` : k);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad("must be a mapping of option -> shape");
  check(value, "");
  return value as { readonly [key: string]: Shape };
}

/** Refuses, in one line naming it, the first key or value `shape` does not know. */
export function checkConfig(config: Record<string, unknown>, shape: { readonly [key: string]: Shape }, adapter: string, at = ""): void {
  for (const [key, value] of Object.entries(config)) {
    const path = at + key;
    const want = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (want === undefined) {
      throw new UsageError(`--ca-config: unknown key ${path} for --ca ${adapter} (known${at ? ` under ${at.slice(0, -1)}` : ""}: ${Object.keys(shape).join(", ")})`);
    }
    if (want === "any") continue;
    if (typeof want === "string") {
      if (typeof value !== want) throw new UsageError(`--ca-config: ${path} must be a ${want} (got ${JSON.stringify(value)})`);
    } else if (Array.isArray(want)) {
      if (!want.includes(value as string)) throw new UsageError(`--ca-config: ${path} must be one of ${want.join(", ")} (got ${JSON.stringify(value)})`);
    } else {
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new UsageError(`--ca-config: ${path} must be a mapping`);
      checkConfig(value as Record<string, unknown>, want as { readonly [key: string]: Shape }, adapter, `${path}.`);
    }
  }
}
