import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseDuration, UsageError, type Clock, type LifecyclePolicy } from "../../core/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";
import type { HttpAdapterOptions } from "./http.js";
import { checkConfig, CONFIG_KEYS, moduleShape } from "./config-keys.js";
import { importUserModule } from "./user-module.js";

/*
 * From `--ca` (and `--ca-config`) to a running CaAdapter: a shipped adapter by
 * name or URL, or a user's module by path.
 */

/**
 * What a user's adapter module exports: `createAdapter(options)`, given the
 * --ca-config YAML (parsed) plus the run's clock.
 */
export type CreateAdapter = (options: Record<string, unknown> & { clock: Clock }) => Promise<CaAdapter> | CaAdapter;

/** The --ca-config file: YAML, one mapping of the adapter's options. */
export function readCaConfig(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --ca-config ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`--ca-config ${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`--ca-config ${file} must be a YAML mapping`);
  return doc as Record<string, unknown>;
}

/**
 * The --ca-config of a served CA (`http(s)://URL`), read and checked: for a
 * caller that connects many times with one file (`cardloop run`, once per
 * scenario), so that the file is read and judged once.
 */
export function readHttpCaConfig(file: string | undefined): Omit<HttpAdapterOptions, "url"> {
  const config = readCaConfig(file);
  checkConfig(config, CONFIG_KEYS.http, "http(s)://URL");
  return config as Omit<HttpAdapterOptions, "url">;
}

/**
 * `validity: 3y` (any duration) for adapters that count in days or hours, as
 * that whole number: a duration they cannot express, or given beside their
 * own key, is refused rather than rounded or overridden.
 */
function validityIn(config: Record<string, unknown>, own: string, unitMs: number, unit: string): Record<string, number> {
  if (config.validity === undefined) return {};
  if (config[own] !== undefined) throw new UsageError(`--ca-config: give validity or ${own}, not both`);
  let ms: number;
  try {
    ms = parseDuration(String(config.validity));
  } catch (err) {
    throw new UsageError(`--ca-config validity: ${(err as Error).message}`);
  }
  const n = ms / unitMs;
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--ca-config: validity ${String(config.validity)} is not a whole number of ${unit}`);
  return { [own]: n };
}

/** The shipped adapter `--ca` names, if any (a user's module takes whatever options it documents). */
function shipped(spec: string): keyof typeof CONFIG_KEYS | undefined {
  if (spec === "embedded" || spec === "openssl" || spec === "cfssl") return spec;
  return /^https?:\/\//.test(spec) ? "http" : undefined;
}

/**
 * Builds the adapter for `--ca`: embedded | openssl | cfssl | http(s)://URL | module:PATH.
 * Starting the CA is part of this: a failure here means "could not be reached or started".
 */
export async function resolveAdapter(spec: string, config: Record<string, unknown>, clock: Clock, policy?: LifecyclePolicy): Promise<CaAdapter> {
  const kind = shipped(spec);
  if (kind) checkConfig(config, CONFIG_KEYS[kind], spec);
  if (spec === "embedded") {
    // The reference CA runs the policy it is certified against (its own default without one); --ca-config keys still win.
    const { createEmbeddedAdapter } = await import("./embedded.js");
    return createEmbeddedAdapter({ policy, ...config, clock } as Parameters<typeof createEmbeddedAdapter>[0]);
  }
  if (spec === "openssl") {
    const { OpensslCa } = await import("./openssl.js");
    return OpensslCa.create({ ...config, ...validityIn(config, "validityDays", 86_400_000, "days"), clock });
  }
  if (spec === "cfssl") {
    const { CfsslCa } = await import("./cfssl.js");
    return CfsslCa.create({ ...config, ...validityIn(config, "validityHours", 3_600_000, "hours") });
  }
  if (/^https?:\/\//.test(spec)) {
    const { HttpCa } = await import("./http.js");
    return HttpCa.connect({ ...(config as object), url: spec } as Parameters<typeof HttpCa.connect>[0]);
  }
  if (spec.startsWith("module:")) {
    const path = spec.slice("module:".length);
    if (!path) throw new UsageError("--ca module:PATH needs a path");
    const abs = isAbsolute(path) ? path : resolve(process.cwd(), path);
    let mod: { createAdapter?: CreateAdapter; configKeys?: unknown; default?: { createAdapter?: CreateAdapter; configKeys?: unknown } };
    try {
      mod = await importUserModule(abs);
    } catch (err) {
      throw new UsageError(`cannot load adapter module ${path}: ${(err as Error).message.split("\n")[0]}`);
    }
    const create = mod.createAdapter ?? mod.default?.createAdapter;
    if (typeof create !== "function") throw new UsageError(`adapter module ${path} exports no createAdapter(options)`);
    // A module that declares its options gets the shipped adapters' strictness; one that does not gets the YAML as it is.
    const keys = mod.configKeys ?? mod.default?.configKeys;
    if (keys !== undefined) checkConfig(config, moduleShape(keys, path), `module:${path}`);
    const ca = await create({ ...config, clock });
    for (const m of ["capabilities", "issue", "renew", "revoke", "release", "status", "crl", "ocsp", "anchors", "close"] as const) {
      if (typeof (ca as unknown as Record<string, unknown>)?.[m] !== "function") throw new UsageError(`adapter from ${path} lacks ${m}()`);
    }
    // A report names the CA it judged: a module that cannot say what it is, by its path (a frozen adapter stays "unknown").
    if (typeof ca.identity !== "function" && Object.isExtensible(ca)) ca.identity = async () => ({ software: `module:${abs}` });
    return ca;
  }
  throw new UsageError(`--ca must be embedded, openssl, cfssl, http(s)://URL or module:PATH (got ${spec})`);
}
