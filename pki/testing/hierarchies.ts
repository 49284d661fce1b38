import fc from "fast-check";
import { generateEcKeyPair } from "../../core/index.js";
import { type GeneralNameSpec, type NameAttr, type Subtrees, buildCertificate, encodeName, ext } from "../build/certificate.js";
import { type SigningKey, keyIdentifier, softwareSigningKey } from "../build/keys.js";
import { KU, OID } from "../oids.js";

/**
 * Random CA hierarchies for differential tests of name constraints and policies:
 * a root, 0-3 intermediates and a leaf, each CA with optional name constraints
 * (dNSName, rfc822Name, directoryName, iPAddress, URI) and policy extensions, the
 * leaf with names drawn from the same small universes, so that they fall both
 * inside and outside the constraints, and random initial policy inputs.
 *
 * Every certificate conforms to RFC 5280 section 4 (positive serials, AKI below the
 * root, SKI everywhere, basicConstraints, keyUsage and nameConstraints critical,
 * policyConstraints and inhibitAnyPolicy critical, no mapping of anyPolicy) and is
 * valid at HIERARCHY_TIME; they are written by the production builders. A spec is
 * plain, readable data (names and CIDR ranges as text), so a failing case prints as
 * what it is. The root carries no policy extensions: RFC 5280 6.1 processes policies
 * for certificates 1..n only, the trust anchor is not one of them.
 */

/** The fixed validation time (no wall clock). */
export const HIERARCHY_TIME = Date.UTC(2030, 5, 1);
const DAY = 86_400_000;

/** Three test policies (NIST-test-policy-1..3) and anyPolicy: the whole policy alphabet. */
export const TEST_POLICIES = ["2.16.840.1.101.3.2.1.48.1", "2.16.840.1.101.3.2.1.48.2", "2.16.840.1.101.3.2.1.48.3"] as const;
export const POLICY_ALPHABET: readonly string[] = [...TEST_POLICIES, OID.anyPolicy];

// ---------------------------------------------------------------- the universes names come from

/** Constraint bases and names per form. Names include label-boundary, case and sub-domain variants. */
export const UNIVERSE = {
  dns: {
    bases: ["example.com", "a.example.com", "b.example.com", "example.org", "x.a.example.com"],
    names: ["example.com", "a.example.com", "www.a.example.com", "x.a.example.com", "b.example.com", "ab.example.com", "WWW.A.Example.COM", "www.example.org", "other.test"],
  },
  email: {
    bases: ["alice@a.example.com", "a.example.com", ".example.com", "example.org", ".a.example.com"],
    names: ["alice@a.example.com", "Alice@a.example.com", "alice@A.EXAMPLE.COM", "bob@a.example.com", "carol@x.a.example.com", "dave@example.com", "erin@example.org", "frank@sub.example.org", "gina@other.test"],
  },
  uri: {
    bases: ["a.example.com", ".example.com", "example.org"],
    names: ["http://a.example.com/x", "https://www.a.example.com/", "http://example.com/", "http://www.example.org/", "http://example.org:8080/p"],
  },
  ip: {
    bases: ["10.0.0.0/8", "10.1.0.0/16", "192.168.1.0/24", "2001:db8::/32", "2001:db8:1::/48"],
    names: ["10.1.2.3", "10.2.3.4", "192.168.1.7", "192.168.2.7", "2001:db8:1::1", "2001:db8:2::1", "2001:db9::1"],
  },
  /** directoryName subtrees, as [attribute, value] lists (C, O, OU). */
  dir: {
    bases: [[["C", "FR"]], [["C", "FR"], ["O", "Acme"]], [["C", "FR"], ["O", "Acme"], ["OU", "Sales"]], [["C", "DE"]], [["C", "FR"], ["O", "Globex"]]] as Array<Array<[string, string]>>,
  },
};

const ATTR: Record<string, string> = { C: OID.country, O: OID.organization, OU: OID.organizationalUnit, CN: OID.commonName, E: OID.emailAddress };

// ---------------------------------------------------------------- specs

/** Subtrees by form, as text: dNSName/rfc822Name/URI bases, directoryName attribute lists, CIDR ranges. */
export interface SubtreesSpec {
  dns?: string[];
  email?: string[];
  uri?: string[];
  ip?: string[];
  dir?: Array<Array<[string, string]>>;
}
export interface NameConstraintsSpec {
  permitted?: SubtreesSpec;
  excluded?: SubtreesSpec;
}
/** A subject: C, O, optional OU (each attribute string type chosen), a CN, an optional emailAddress. */
export interface SubjectSpec {
  c: string;
  o: string;
  ou?: string;
  cn: string;
  email?: string;
  /** Write the directory strings as PrintableString (else UTF8String): matching must not care (RFC 5280 7.1). */
  printable: boolean;
}
export interface CaSpec {
  subject: SubjectSpec;
  nc?: NameConstraintsSpec;
  policies?: string[];
  mappings?: Array<[string, string]>;
  policyConstraints?: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number };
  inhibitAnyPolicy?: number;
}
export type SanSpec = { dns: string } | { email: string } | { uri: string } | { ip: string };
export interface LeafSpec {
  subject: SubjectSpec;
  sans: SanSpec[];
  policies?: string[];
}
/** RFC 5280 6.1.1 (c), (e)-(g); `initialPolicySet` undefined = the default {anyPolicy}. */
export interface InputsSpec {
  initialPolicySet?: string[];
  initialExplicitPolicy: boolean;
  initialPolicyMappingInhibit: boolean;
  initialInhibitAnyPolicy: boolean;
}
export interface HierarchySpec {
  /** The root: its subject and optional name constraints (no policy extensions, see above). */
  root: { subject: SubjectSpec; nc?: NameConstraintsSpec };
  /** Intermediates, top-down: cas[0] is issued by the root. */
  cas: CaSpec[];
  leaf: LeafSpec;
  inputs: InputsSpec;
}

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
/** `arb` in `percent` % of the cases, else undefined (the extension or attribute absent). */
const maybe = <T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(undefined) }, { weight: percent, arbitrary: arb });
const often = (percent: number) => fc.integer({ min: 0, max: 99 }).map((n) => n < percent);
const subset = <T>(xs: readonly T[], max = xs.length) => fc.uniqueArray(pick(xs), { minLength: 1, maxLength: max });

const subtrees = (): fc.Arbitrary<SubtreesSpec> =>
  fc
    .record(
      {
        dns: subset(UNIVERSE.dns.bases, 2),
        email: subset(UNIVERSE.email.bases, 2),
        uri: subset(UNIVERSE.uri.bases, 2),
        ip: subset(UNIVERSE.ip.bases, 2),
        dir: subset(UNIVERSE.dir.bases, 2),
      },
      { requiredKeys: [] },
    )
    .filter((s) => Object.keys(s).length > 0 && Object.keys(s).length <= 2);

const nameConstraints = (): fc.Arbitrary<NameConstraintsSpec> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ permitted: subtrees() }) },
    { weight: 2, arbitrary: fc.record({ excluded: subtrees() }) },
    { weight: 1, arbitrary: fc.record({ permitted: subtrees(), excluded: subtrees() }) },
  );

const subject = (cn: fc.Arbitrary<string>, email: boolean): fc.Arbitrary<SubjectSpec> =>
  fc.record({
    c: fc.constantFrom("FR", "FR", "DE"),
    o: fc.constantFrom("Acme", "Acme", "ACME", "Globex"),
    ou: maybe(fc.constantFrom("Sales", "sales", "Ops"), 40),
    cn,
    email: email ? maybe(pick(UNIVERSE.email.names), 30) : fc.constant(undefined),
    printable: fc.boolean(),
  });

const skip = () => fc.integer({ min: 0, max: 2 });
const testPolicy = pick(TEST_POLICIES);

const caSpec = (i: number): fc.Arbitrary<CaSpec> =>
  fc.record({
    subject: subject(fc.constant(`CA ${i + 1}`), false),
    nc: maybe(nameConstraints(), 25),
    policies: maybe(subset(POLICY_ALPHABET), 85),
    mappings: maybe(fc.uniqueArray(fc.tuple(testPolicy, testPolicy).filter(([a, b]) => a !== b), { minLength: 1, maxLength: 2, selector: ([a, b]) => a + b }), 25),
    policyConstraints: maybe(
      fc.record({ requireExplicitPolicy: skip(), inhibitPolicyMapping: skip() }, { requiredKeys: [] }).filter((p) => Object.keys(p).length > 0),
      20,
    ),
    inhibitAnyPolicy: maybe(skip(), 15),
  });

const san = (): fc.Arbitrary<SanSpec> =>
  fc.oneof(
    pick(UNIVERSE.dns.names).map((dns) => ({ dns })),
    pick(UNIVERSE.email.names).map((email) => ({ email })),
    pick(UNIVERSE.uri.names).map((uri) => ({ uri })),
    pick(UNIVERSE.ip.names).map((ip) => ({ ip })),
  );

/** The leaf's CN: mostly a label no one reads as a host name; sometimes a host name (validators differ on reading it as one). */
const leafCn = fc.oneof({ weight: 9, arbitrary: fc.constant("Leaf Holder") }, { weight: 1, arbitrary: pick(UNIVERSE.dns.names) });

export const hierarchySpec = (): fc.Arbitrary<HierarchySpec> =>
  fc.record({
    root: fc.record({ subject: subject(fc.constant("Root CA"), false), nc: maybe(nameConstraints(), 20) }),
    cas: fc.integer({ min: 0, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => caSpec(i)))),
    leaf: fc.record({ subject: subject(leafCn, true), sans: fc.array(san(), { maxLength: 4 }), policies: maybe(subset(POLICY_ALPHABET), 85) }),
    inputs: fc.record({
      initialPolicySet: maybe(subset(POLICY_ALPHABET), 40),
      initialExplicitPolicy: often(25),
      initialPolicyMappingInhibit: often(25),
      initialInhibitAnyPolicy: often(25),
    }),
  });

// ---------------------------------------------------------------- building

/** One P-256 key per position (root, CA 1..3, leaf), made once: key generation is slow, signing is not. */
export class HierarchyKeys {
  readonly keys: readonly SigningKey[] = Array.from({ length: 5 }, () => softwareSigningKey(generateEcKeyPair("P-256").privateKey));
}

export interface Hierarchy {
  spec: HierarchySpec;
  root: Uint8Array;
  /** Top-down: intermediates[0] is issued by the root. */
  intermediates: Uint8Array[];
  leaf: Uint8Array;
  time: number;
}

export function subjectAttrs(s: SubjectSpec): NameAttr[] {
  const t = s.printable ? "printable" : "utf8";
  const attrs: NameAttr[] = [[ATTR.C, s.c], [ATTR.O, s.o, t]];
  if (s.ou !== undefined) attrs.push([ATTR.OU, s.ou, t]);
  attrs.push([ATTR.CN, s.cn, t]);
  if (s.email !== undefined) attrs.push([ATTR.E, s.email]);
  return attrs;
}

/** "10.0.0.0/8" -> address and mask octets; "10.1.2.3" -> the address octets. */
export function ipOctets(text: string): { address: Uint8Array; mask: Uint8Array } {
  const [addr, bits] = text.split("/");
  let address: Uint8Array;
  if (addr.includes(":")) {
    const [head, tail = ""] = addr.split("::");
    const groups = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
    const h = groups(head);
    const tl = groups(tail);
    const all = addr.includes("::") ? [...h, ...Array(8 - h.length - tl.length).fill(0), ...tl] : h;
    address = Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]));
  } else address = Uint8Array.from(addr.split(".").map(Number));
  const n = bits === undefined ? address.length * 8 : Number(bits);
  const mask = Uint8Array.from({ length: address.length }, (_, i) => (0xff00 >> Math.min(8, Math.max(0, n - 8 * i))) & 0xff);
  return { address, mask };
}

export function subtreesOf(s: SubtreesSpec): Subtrees {
  return {
    dNSName: s.dns,
    rfc822Name: s.email,
    uniformResourceIdentifier: s.uri,
    iPAddress: s.ip?.map(ipOctets),
    directoryName: s.dir?.map((attrs) => attrs.map(([k, v]): NameAttr => [ATTR[k], v])),
  };
}

function sanOf(s: SanSpec): GeneralNameSpec {
  if ("dns" in s) return { dNSName: s.dns };
  if ("email" in s) return { rfc822Name: s.email };
  if ("uri" in s) return { uniformResourceIdentifier: s.uri };
  return { iPAddress: ipOctets(s.ip).address };
}

const ncExt = (nc: NameConstraintsSpec) => ext.nameConstraints({ permitted: nc.permitted && subtreesOf(nc.permitted), excluded: nc.excluded && subtreesOf(nc.excluded) });

function caExtensions(c: Partial<CaSpec>, ski: Uint8Array, aki?: Uint8Array): Uint8Array[] {
  const out = [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(ski)];
  if (aki) out.push(ext.authorityKeyIdentifier(aki));
  if (c.nc) out.push(ncExt(c.nc));
  if (c.policies) out.push(ext.certificatePolicies(c.policies));
  if (c.mappings) out.push(ext.policyMappings(c.mappings));
  if (c.policyConstraints) out.push(ext.policyConstraints(c.policyConstraints));
  if (c.inhibitAnyPolicy !== undefined) out.push(ext.inhibitAnyPolicy(c.inhibitAnyPolicy));
  return out;
}

/** Builds and signs the hierarchy a spec describes. */
export function buildHierarchy(spec: HierarchySpec, keys: HierarchyKeys): Hierarchy {
  const t = HIERARCHY_TIME;
  const k = keys.keys;
  const rootName = encodeName(subjectAttrs(spec.root.subject));
  const rootSki = keyIdentifier(k[0].spki);
  const root = buildCertificate(
    { serial: Uint8Array.of(1), issuer: rootName, subject: rootName, notBefore: t - 3650 * DAY, notAfter: t + 3650 * DAY, spki: k[0].spki, extensions: caExtensions({ nc: spec.root.nc }, rootSki) },
    k[0],
  );
  let up = { name: rootName, key: k[0], ski: rootSki };
  const intermediates = spec.cas.map((c, i) => {
    const key = k[1 + i];
    const name = encodeName(subjectAttrs(c.subject));
    const ski = keyIdentifier(key.spki);
    const der = buildCertificate(
      { serial: Uint8Array.of(0x10 + i), issuer: up.name, subject: name, notBefore: t - 1000 * DAY, notAfter: t + 1000 * DAY, spki: key.spki, extensions: caExtensions(c, ski, up.ski) },
      up.key,
    );
    up = { name, key, ski };
    return der;
  });
  const leafKey = k[k.length - 1];
  const l = spec.leaf;
  const extensions = [ext.keyUsage([KU.digitalSignature]), ext.subjectKeyIdentifier(keyIdentifier(leafKey.spki)), ext.authorityKeyIdentifier(up.ski)];
  if (l.sans.length) extensions.push(ext.subjectAltName(l.sans.map(sanOf)));
  if (l.policies) extensions.push(ext.certificatePolicies(l.policies));
  const leaf = buildCertificate(
    { serial: Uint8Array.of(0x7f, 0x01), issuer: up.name, subject: encodeName(subjectAttrs(l.subject)), notBefore: t - 100 * DAY, notAfter: t + 300 * DAY, spki: leafKey.spki, extensions },
    up.key,
  );
  return { spec, root, intermediates, leaf, time: t };
}
