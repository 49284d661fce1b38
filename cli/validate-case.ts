import { readFileSync } from "node:fs";
import { SystemClock, UsageError, errorMessage } from "../core/index.js";
import { OID, type RevocationPolicy, type Usage, type ValidateOptions, type ValidationResult, Validator, readPemOrDer } from "../pki/index.js";

/**
 * What one `cardloop validate` case is, however it was given (options or a --batch
 * line): its files, its time and the checks asked for; how it runs, and how its
 * result is printed. Everything the user typed is checked here, so a mistake is a
 * usage error (exit 2) and never turns into a verdict.
 */

const USAGES: readonly Usage[] = ["authentication", "signature", "any"];
const REVOCATION_POLICIES: readonly RevocationPolicy[] = ["require", "if-present", "off"];
export const PROFILES = ["strict", "pedantic", "lenient"] as const;

/** The RFC 5280 6.1.1 inputs and the other path checks a case may set; absent: the validator's default. */
export type Checks = Pick<
  ValidateOptions,
  "initialPolicySet" | "initialExplicitPolicy" | "initialPolicyMappingInhibit" | "initialInhibitAnyPolicy" | "eku" | "anchorConstraints" | "profile" | "useDeltaCrls"
>;

/**
 * Every field of a case, once: its name on a --batch line and, when it has one, the
 * command-line option giving it (commander's long flag). The --batch help, the refusal of
 * options next to --batch and the set of fields a line may have all derive from here.
 * "id" and "leaf" have no option: the leaf is the argument, an id means nothing alone.
 */
export const CASE_FIELDS: readonly { readonly field: string; readonly option?: string }[] = [
  { field: "id" },
  { field: "leaf" },
  { field: "intermediates", option: "--intermediate" },
  { field: "anchors", option: "--anchor" },
  { field: "crls", option: "--crl" },
  { field: "ocspResponses", option: "--ocsp-response" },
  { field: "at", option: "--at" },
  { field: "usage", option: "--usage" },
  { field: "revocation", option: "--revocation" },
  { field: "initialPolicySet", option: "--policy" },
  { field: "initialExplicitPolicy", option: "--explicit-policy" },
  { field: "initialPolicyMappingInhibit", option: "--inhibit-policy-mapping" },
  { field: "initialInhibitAnyPolicy", option: "--inhibit-any-policy" },
  { field: "eku", option: "--eku" },
  { field: "anchorConstraints", option: "--no-anchor-constraints" },
  { field: "profile", option: "--profile" },
  { field: "useDeltaCrls", option: "--no-delta-crls" },
];
export const BATCH_FIELDS: ReadonlySet<string> = new Set(CASE_FIELDS.map((f) => f.field));
/** The --batch field of each option (by long flag). */
export const FIELD_OF_OPTION: ReadonlyMap<string, string> = new Map(CASE_FIELDS.flatMap((f) => (f.option ? [[f.option, f.field] as const] : [])));
/** The option of each field that has one. */
export const OPTION_OF_FIELD: ReadonlyMap<string, string> = new Map(CASE_FIELDS.flatMap((f) => (f.option ? [[f.field, f.option] as const] : [])));

export interface Case {
  leaf: string;
  intermediates: string[];
  anchors: string[];
  crls: string[];
  ocspResponses: string[];
  time: number;
  usage: Usage;
  revocation?: RevocationPolicy;
  checks: Checks;
}

/**
 * An ISO 8601 date (UTC midnight) or date-time with its zone (Z or +hh:mm). A date-time
 * without a zone would be read in the machine's local zone, so the same case would give
 * different verdicts on different machines: it is refused. Impossible dates (02-30) too.
 */
export function parseIsoTime(at: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(at);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return undefined;
  const t = Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : at.replace(" ", "T"));
  return Number.isFinite(t) ? t : undefined;
}

export function parseTime(at: string | undefined, clock: SystemClock, what = "--at"): number {
  if (at === undefined) return clock.nowMs();
  const t = parseIsoTime(at);
  if (t === undefined) throw new UsageError(`${what}: not an ISO time with a zone (e.g. 2031-06-01 or 2031-06-01T12:00:00Z): ${at.slice(0, 40)}`);
  return t;
}

export function checkUsage(u: string | undefined, what = "--usage"): Usage {
  const v = (u ?? "any") as Usage;
  if (!USAGES.includes(v)) throw new UsageError(`${what} must be one of ${USAGES.join(", ")}`);
  return v;
}

export function checkRevocation(p: string | undefined, what = "--revocation"): RevocationPolicy | undefined {
  if (p === undefined) return undefined;
  if (!REVOCATION_POLICIES.includes(p as RevocationPolicy)) throw new UsageError(`${what} must be one of ${REVOCATION_POLICIES.join(", ")}`);
  return p as RevocationPolicy;
}

export function checkProfile(p: string | undefined, what = "--profile"): (typeof PROFILES)[number] | undefined {
  if (p === undefined) return undefined;
  if (!(PROFILES as readonly string[]).includes(p)) throw new UsageError(`${what} must be one of ${PROFILES.join(", ")}`);
  return p as (typeof PROFILES)[number];
}

/** Names the user may give instead of an extended key usage OID (the OIDs come from pki/oids.ts). */
export const EKU_NAMES: Readonly<Record<string, string>> = {
  serverAuth: OID.kpServerAuth,
  clientAuth: OID.kpClientAuth,
  codeSigning: OID.kpCodeSigning,
  emailProtection: OID.kpEmailProtection,
  ocspSigning: OID.kpOcspSigning,
  smartCardLogon: OID.msSmartCardLogon,
  pkinitClientAuth: OID.pkinitClientAuth,
  pivCardAuth: OID.pivCardAuth,
  pivContentSigning: OID.pivContentSigning,
  anyExtendedKeyUsage: OID.anyExtendedKeyUsage,
};
const POLICY_NAMES: Readonly<Record<string, string>> = { anyPolicy: OID.anyPolicy };

/**
 * Dotted decimal OID as certificates decode to (X.660: first arc 0-2, second below 40
 * under 0 and 1, no leading zeros): anything else could never equal a decoded OID, so
 * it would silently match nothing.
 */
export function isDottedOid(s: string): boolean {
  if (s.length > 200 || !/^[0-2](?:\.(?:0|[1-9]\d*))+$/.test(s)) return false;
  return s[0] === "2" || Number(s.split(".")[1]) < 40;
}

function oidOf(s: string, names: Readonly<Record<string, string>>, what: string): string {
  if (Object.hasOwn(names, s)) return names[s];
  if (isDottedOid(s)) return s;
  throw new UsageError(`${what}: not a dotted OID (e.g. 2.16.840.1.101.3.2.1.48.1) or one of ${Object.keys(names).join(", ")}: ${s.slice(0, 40)}`);
}

export const policyOid = (s: string, what = "--policy"): string => oidOf(s, POLICY_NAMES, what);
export const ekuOid = (s: string, what = "--eku"): string => oidOf(s, EKU_NAMES, what);

const BOOLEAN_CHECKS = ["initialExplicitPolicy", "initialPolicyMappingInhibit", "initialInhibitAnyPolicy", "anchorConstraints", "useDeltaCrls"] as const;

/**
 * The path checks from the values given for them (a --batch line's fields, or the options
 * mapped to those fields), keyed by field; absent (undefined) values leave the validator's
 * defaults. `name` says how a field is called to the user, for the UsageError a wrong value throws.
 * OID lists are deduplicated.
 */
export function buildChecks(values: Readonly<Record<string, unknown>>, name: (field: string) => string): Checks {
  const checks: Checks = {};
  for (const k of BOOLEAN_CHECKS) {
    const x = values[k];
    if (x === undefined) continue;
    if (typeof x !== "boolean") throw new UsageError(`${name(k)} must be true or false`);
    checks[k] = x;
  }
  const oids = (k: string, toOid: (s: string, what: string) => string): string[] | undefined => {
    const x = values[k];
    if (x === undefined) return undefined;
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string")) throw new UsageError(`${name(k)} must be an array of OIDs`);
    return [...new Set(x.map((s: string) => toOid(s, name(k))))];
  };
  const policies = oids("initialPolicySet", policyOid);
  // An empty set accepts no policy at all, so no path could have one: surely a mistake ([anyPolicy] accepts any).
  if (policies?.length === 0) throw new UsageError(`${name("initialPolicySet")} is empty: use ["2.5.29.32.0"] (anyPolicy) to accept any policy`);
  if (policies) checks.initialPolicySet = policies;
  const eku = oids("eku", ekuOid);
  if (eku) checks.eku = eku;
  const profileText = values.profile;
  if (profileText !== undefined && typeof profileText !== "string") throw new UsageError(`${name("profile")} must be a string`);
  const profile = checkProfile(profileText, name("profile"));
  if (profile) checks.profile = profile;
  return checks;
}

/** OIDs in arc order (2.1.10 after 2.1.9), so that output is stable and reads naturally. */
export function compareOids(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    return x[i].length !== y[i].length ? x[i].length - y[i].length : x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

/** Reads a file into its PEM/DER objects; a cache keeps the same arrays so the validator's parse caches hit. */
export class Files {
  private readonly cache = new Map<string, Uint8Array[]>();
  read(path: string, label: string): Uint8Array[] {
    const key = `${label}\0${path}`;
    let v = this.cache.get(key);
    if (!v) {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (err) {
        throw new UsageError(`cannot read ${path}: ${errorMessage(err)}`);
      }
      try {
        v = readPemOrDer(bytes, label);
      } catch (err) {
        throw new UsageError(`${path}: ${errorMessage(err)}`);
      }
      this.cache.set(key, v);
    }
    return v;
  }
  many(paths: readonly string[], label: string): Uint8Array[] {
    return paths.flatMap((p) => this.read(p, label));
  }
}

/** A DecodeError (pki's "decode" code): input that does not parse, the user's to fix, never a verdict. */
export const isDecodeError = (err: unknown): boolean => err instanceof Error && (err as { code?: string }).code === "decode";

/** `parse` on one object of `path`; a DecodeError becomes a UsageError naming the file (and the object, when it holds several). */
function parseFrom<T>(path: string, i: number, count: number, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!isDecodeError(err)) throw err;
    throw new UsageError(`${path}${count > 1 ? ` (object ${i + 1} of ${count})` : ""}: ${errorMessage(err)}`);
  }
}

/** Every object of every file, parsed up front so that undecodable input is a usage error naming its file (exit 2), not a verdict. */
function parseAll<T>(files: Files, paths: readonly string[], label: string, parse: (der: Uint8Array) => T): T[] {
  const out: T[] = [];
  for (const p of paths) {
    const ders = files.read(p, label);
    for (let i = 0; i < ders.length; i++) out.push(parseFrom(p, i, ders.length, () => parse(ders[i])));
  }
  return out;
}

/** Validates one case; input problems (unreadable, undecodable, a leaf file with several certificates) throw UsageError. */
export function runCase(v: Validator, files: Files, c: Case): ValidationResult {
  const leafs = files.read(c.leaf, "CERTIFICATE");
  // A fullchain.pem given as the leaf: taking its first certificate and dropping the rest would give a
  // confident unknown-issuer; which of them is the leaf, and which are intermediates, is the user's to say.
  if (leafs.length > 1) {
    throw new UsageError(`${c.leaf}: holds ${leafs.length} certificates, a leaf file holds one: pass the others with --intermediate ("intermediates" on a --batch line)`);
  }
  const leaf = parseFrom(c.leaf, 0, 1, () => v.certificate(leafs[0]));
  const anchors = parseAll(files, c.anchors, "CERTIFICATE", (b) => v.certificate(b));
  const intermediates = parseAll(files, c.intermediates, "CERTIFICATE", (b) => v.certificate(b));
  const crls = parseAll(files, c.crls, "X509 CRL", (b) => v.crl(b));
  const ocspResponses = parseAll(files, c.ocspResponses, "OCSP RESPONSE", (b) => v.ocspResponse(b));
  if (anchors.length === 0) throw new UsageError("at least one trust anchor is needed");
  try {
    return v.validate(leaf, { anchors, intermediates, crls, ocspResponses, time: c.time, usage: c.usage, revocation: c.revocation, ...c.checks });
  } catch (err) {
    // The validator reports what it decodes lazily as `malformed`; a DecodeError that still escapes is the input's.
    if (isDecodeError(err)) throw new UsageError(errorMessage(err));
    throw err;
  }
}

const sortedOids = (oids: readonly string[]): string[] => [...oids].sort(compareOids);
const ANY_ONLY = (set: readonly string[]): boolean => set.length === 1 && set[0] === OID.anyPolicy;

export function describe(r: ValidationResult): string {
  if (r.valid) {
    const chain = r.path.map((c) => c.subject.display).join("\n  <- ");
    const set = r.userConstrainedPolicySet;
    // anyPolicy alone is the unconstrained default: not worth a line.
    const policies = ANY_ONLY(set) ? "" : `  user-constrained policy set: ${set.length ? sortedOids(set).join(", ") : "(none)"}\n`;
    return `valid\n  ${chain}\n${policies}`;
  }
  return `invalid: ${r.code} at position ${r.position}: ${r.detail}\n`;
}

export function toJson(r: ValidationResult, id?: unknown): Record<string, unknown> {
  const base: Record<string, unknown> = id === undefined ? {} : { id };
  if (r.valid) {
    return {
      ...base,
      valid: true,
      code: null,
      detail: null,
      path: r.path.map((c) => c.subject.display),
      userConstrainedPolicySet: sortedOids(r.userConstrainedPolicySet),
      ...(r.revocations.length ? { laterRevocations: r.revocations } : {}),
    };
  }
  return { ...base, valid: false, code: r.code, detail: r.detail, position: r.position, ...(r.revocation ? { revocation: { ...r.revocation, time: new Date(r.revocation.time).toISOString() } } : {}) };
}
