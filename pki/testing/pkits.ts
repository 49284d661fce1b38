import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OID } from "../oids.js";
import type { ValidateOptions, ValidationResult, Validator } from "../validator.js";

/**
 * The NIST PKITS vectors of pki/testdata/pkits/ (its README gives the format), read
 * once for every test that runs them: the suite, the policy names as OIDs, a case's
 * settings as validator options, and its certificates and CRLs. Test-only.
 */

// fileURLToPath, not URL.pathname: that keeps percent-escapes (a space is %20), so a clone under a path
// with a space or a non-ASCII character would read a directory that does not exist.
export const PKITS_DIR = fileURLToPath(new URL("../testdata/pkits/", import.meta.url));

/** A case's inputs that differ from the suite's defaults, and the expected output policy set. */
export interface PkitsSettings {
  /** Comma-separated policy names (RFC 5280 6.1.1 (c)). */
  initialPolicySet?: string;
  initialExplicitPolicy?: boolean;
  initialPolicyMappingInhibit?: boolean;
  initialInhibitAnyPolicy?: boolean;
  /** Comma-separated policy names, "" for the empty set (6.1.6). */
  userConstrainedPolicySet?: string;
}

export interface PkitsCase {
  /** e.g. "4.10.7"; repeats across subparts (4.8.1 has four). */
  number: string;
  title: string;
  /** File names without extension: trust anchor first, end entity last. */
  certs: string[];
  crls: string[];
  shouldValidate: boolean;
  settings: PkitsSettings;
}

export interface PkitsSuite {
  /** Every case is validated at this instant (ms since the epoch). */
  validationTime: number;
  /** The same instant as pkits.json writes it (for `validate --batch` lines). */
  validationTimeText: string;
  cases: readonly PkitsCase[];
}

const raw = JSON.parse(readFileSync(join(PKITS_DIR, "pkits.json"), "utf8")) as { validationTime: string; cases: PkitsCase[] };
export const pkits: PkitsSuite = { validationTime: Date.parse(raw.validationTime), validationTimeText: raw.validationTime, cases: raw.cases };

/** The cases of one section ("4.13") or subsection prefix. */
export const pkitsSection = (section: string): PkitsCase[] => pkits.cases.filter((c) => c.number.startsWith(`${section}.`));

/** PKITS policy names: anyPolicy and NIST-test-policy-N; any other name is an error in the data. */
export function policyOid(name: string): string {
  if (name === "anyPolicy") return OID.anyPolicy;
  const m = /^NIST-test-policy-(\d+)$/.exec(name);
  if (!m) throw new Error(`unknown PKITS policy name ${name}`);
  return `2.16.840.1.101.3.2.1.48.${m[1]}`;
}

/** A comma-separated list of names as OIDs; "" is the empty set. */
export const policySet = (names: string): string[] => (names === "" ? [] : names.split(",").map((n) => policyOid(n.trim())));

/** The case's expected user-constrained policy set as OIDs, or undefined where the case states none. */
export const expectedPolicySet = (c: PkitsCase): string[] | undefined =>
  c.settings.userConstrainedPolicySet === undefined ? undefined : policySet(c.settings.userConstrainedPolicySet);

type InitialInputs = Pick<ValidateOptions, "initialPolicySet" | "initialExplicitPolicy" | "initialPolicyMappingInhibit" | "initialInhibitAnyPolicy">;

/** The settings as validator options; the same names serve as `validate --batch` fields. Absent settings stay absent (the defaults). */
export function initialInputs(s: PkitsSettings): InitialInputs {
  return {
    ...(s.initialPolicySet !== undefined ? { initialPolicySet: policySet(s.initialPolicySet) } : {}),
    ...(s.initialExplicitPolicy !== undefined ? { initialExplicitPolicy: s.initialExplicitPolicy } : {}),
    ...(s.initialPolicyMappingInhibit !== undefined ? { initialPolicyMappingInhibit: s.initialPolicyMappingInhibit } : {}),
    ...(s.initialInhibitAnyPolicy !== undefined ? { initialInhibitAnyPolicy: s.initialInhibitAnyPolicy } : {}),
  };
}

export const certPath = (name: string): string => join(PKITS_DIR, "certs", `${name}.crt`);
export const crlPath = (name: string): string => join(PKITS_DIR, "crls", `${name}.crl`);

// 578 files serve 1,519 uses across the cases: each is read once per test process.
const files = new Map<string, Uint8Array>();
function read(path: string): Uint8Array {
  let der = files.get(path);
  if (!der) files.set(path, (der = new Uint8Array(readFileSync(path))));
  return der;
}
export const certDer = (name: string): Uint8Array => read(certPath(name));
export const crlDer = (name: string): Uint8Array => read(crlPath(name));

/** The case's certificates (anchor first, end entity last) and CRLs, as DER. */
export const caseDers = (c: PkitsCase): { certs: Uint8Array[]; crls: Uint8Array[] } => ({ certs: c.certs.map(certDer), crls: c.crls.map(crlDer) });

/**
 * The case as validate's options: the first certificate the anchor, those between it and
 * the end entity an intermediate pool, every CRL, the suite's time, the settings; then
 * `extra` (a profile, say) over them.
 */
export function pkitsOptions(c: PkitsCase, extra: Partial<ValidateOptions> = {}): ValidateOptions {
  const { certs, crls } = caseDers(c);
  return { anchors: [certs[0]], intermediates: certs.slice(1, -1), crls, time: pkits.validationTime, ...initialInputs(c.settings), ...extra };
}

/** Validates the case's end entity with `pkitsOptions`. */
export function validatePkits(validator: Validator, c: PkitsCase, extra?: Partial<ValidateOptions>): ValidationResult {
  return validator.validate(certDer(c.certs[c.certs.length - 1]), pkitsOptions(c, extra));
}
