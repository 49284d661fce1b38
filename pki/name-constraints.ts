import { domainToASCII } from "node:url";
import type { Certificate } from "./certificate.js";
import { DerReader, Tag, type Tlv, ctx, ctxPrim, readOne } from "./der.js";
import { DecodeError } from "./errors.js";
import { type GeneralName, decodeGeneralName, showGeneralName, smtpUtf8Mailbox } from "./general-name.js";
import type { ParsedName } from "./name.js";
import { OID } from "./oids.js";

/**
 * RFC 5280 name constraints (4.2.1.10; 6.1.3 (b)-(c), 6.1.4 (g)), with RFC 9598
 * section 6 for SmtpUTF8Mailbox names. Each CA's subtrees are kept apart: a name
 * must fall in the permitted subtrees of its form of every CA that has some (the
 * RFC's intersection, never computed) and in no CA's excluded subtrees (the
 * union). Constraints are normalised once per extension (lowercased, parsed,
 * masked, host forms and directoryNames indexed by key) and cached; a check is
 * at most linear in (constraints x names), a few map lookups per name but iPAddress.
 */

/** The subtrees of one NameConstraints extension (only `base`: minimum is 0 and maximum absent, else the extension is malformed). */
export interface NameConstraints {
  permitted: readonly GeneralName[];
  excluded: readonly GeneralName[];
}

export interface NameViolation {
  code: "name-not-permitted" | "name-excluded" | "name-constraints-unsupported";
  detail: string;
}

// ------------------------------------------------------------------ syntax

/** Host names as constraints and names use them: LDH labels (underscore tolerated), lowercase here. */
const HOST = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;
const isHost = (s: string): boolean => s.length <= 253 && HOST.test(s);
/** A constraint host: empty (every host), ".domain" (subdomains only) or "host". */
const isHostConstraint = (s: string): boolean => s === "" || isHost(s[0] === "." ? s.slice(1) : s);
const LOCAL = /^[\x21-\x3f\x41-\x7e]+$/; // printable ASCII but "@"

/** Why a constraint of a string form is malformed, or undefined. */
function badConstraint(g: GeneralName): string | undefined {
  switch (g.type) {
    case "dNSName":
    case "uniformResourceIdentifier":
      return isHostConstraint(g.value.toLowerCase()) ? undefined : "not a host name, \".domain\" or empty";
    case "rfc822Name": {
      const v = g.value.toLowerCase();
      const at = v.indexOf("@");
      if (at < 0) return isHostConstraint(v) ? undefined : "not a mailbox, host, \".domain\" or empty";
      return LOCAL.test(v.slice(0, at)) && isHost(v.slice(at + 1)) ? undefined : "not a mailbox (local@host, one \"@\")";
    }
    case "iPAddress": {
      const b = g.value;
      if (b.length !== 8 && b.length !== 32) return `${b.length} octets, not 8 (IPv4) or 32 (IPv6) address-and-mask`;
      let zero = false;
      for (let i = b.length / 2; i < b.length; i++) {
        for (let bit = 0x80; bit; bit >>= 1) {
          if (!(b[i] & bit)) zero = true;
          else if (zero) return "mask is not contiguous leading ones";
        }
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

// ------------------------------------------------------------------ decoding

const NONE: readonly GeneralName[] = Object.freeze([]);

/** Decodes a NameConstraints extension value; a malformed one (empty, minimum or maximum present, a bad iPAddress mask, a bad string form) throws DecodeError. */
export function decodeNameConstraints(value: Uint8Array): NameConstraints {
  const r = DerReader.of(value, readOne(value, Tag.Sequence, "NameConstraints"));
  if (r.atEnd()) throw new DecodeError("NameConstraints: empty sequence (RFC 5280 4.2.1.10)", 0);
  const permitted = r.peek() === ctx(0) ? subtrees(value, r.read(), "permittedSubtrees") : NONE;
  const excluded = r.peek() === ctx(1) ? subtrees(value, r.read(), "excludedSubtrees") : NONE;
  r.done("NameConstraints");
  return { permitted, excluded };
}

function subtrees(buf: Uint8Array, t: Tlv, what: string): GeneralName[] {
  const r = DerReader.of(buf, t);
  if (r.atEnd()) throw new DecodeError(`${what}: empty GeneralSubtrees (SIZE (1..MAX))`, t.start);
  const out: GeneralName[] = [];
  while (!r.atEnd()) {
    const s = r.enter(Tag.Sequence, "GeneralSubtree");
    const at = s.pos;
    const base = decodeGeneralName(buf, s.read());
    if (!s.atEnd()) {
      const x = s.read();
      // minimum DEFAULT 0: an encoded 0 is not DER, any other value the profile forbids; maximum MUST be absent.
      if (x.tag === ctxPrim(0)) throw new DecodeError(`${what}: GeneralSubtree minimum present (RFC 5280 4.2.1.10: MUST be zero, so omitted)`, x.start);
      if (x.tag === ctxPrim(1)) throw new DecodeError(`${what}: GeneralSubtree maximum present (RFC 5280 4.2.1.10: MUST be absent)`, x.start);
      throw new DecodeError(`${what}: unexpected element in GeneralSubtree`, x.start);
    }
    const bad = badConstraint(base);
    if (bad) throw new DecodeError(`${what}: ${base.type} constraint ${bad}`, at);
    out.push(base);
  }
  return out;
}

// ------------------------------------------------------------------ normalised constraints

interface Sub<K> {
  g: GeneralName;
  k: K;
}
/**
 * Host constraints (dNSName, the hosts of URIs and mailboxes) indexed by their
 * lowercased text, so a name costs a few map lookups (one per label), not a scan.
 */
interface Hosts {
  list: Sub<string>[];
  /** The empty constraint: every host. */
  all?: GeneralName;
  /** "host" constraints. */
  exact: Map<string, GeneralName>;
  /** ".domain" constraints, keyed with their dot. */
  under: Map<string, GeneralName>;
  /** "x.rest" constraints keyed ".rest", for wildcard dNSNames. */
  parent: Map<string, GeneralName>;
}
/** Mail constraints: hosts and domains, and mailboxes (by "local@host", and by host for SmtpUTF8Mailbox names). */
interface Mail {
  hosts: Hosts;
  boxes: Map<string, GeneralName>;
  boxHosts: Map<string, GeneralName>;
}
/**
 * directoryName constraints by canonical key (RDN keys joined by ","), and their RDN counts (ascending, once
 * each): a name costs a Map lookup of its first d RDNs' key per depth d, not a scan of every constraint.
 */
interface Dirs {
  list: Sub<ParsedName>[];
  byKey: Map<string, GeneralName>;
  depths: number[];
}
/** One CA's permitted or excluded subtrees, by form, normalised. */
interface Side {
  dn?: Dirs;
  dns?: Hosts;
  mail?: Mail;
  uri?: Hosts;
  ip?: Sub<Uint8Array>[];
  /** Forms compared by nothing here: otherName (per type-id), x400Address, ediPartyName, registeredID. */
  other?: GeneralName[];
}
interface Entry {
  from: string;
  permitted?: Side;
  excluded?: Side;
}

const newHosts = (): Hosts => ({ list: [], exact: new Map(), under: new Map(), parent: new Map() });
function addHost(h: Hosts, g: GeneralName, k: string): void {
  h.list.push({ g, k });
  if (k === "") h.all ??= g;
  else if (k[0] === ".") {
    if (!h.under.has(k)) h.under.set(k, g);
  } else {
    if (!h.exact.has(k)) h.exact.set(k, g);
    const dot = k.indexOf(".");
    if (dot > 0 && !h.parent.has(k.slice(dot))) h.parent.set(k.slice(dot), g);
  }
}

function compileSide(gs: readonly GeneralName[]): Side | undefined {
  if (gs.length === 0) return undefined;
  const s: Side = {};
  for (const g of gs) {
    switch (g.type) {
      case "directoryName": {
        const d = (s.dn ??= { list: [], byKey: new Map(), depths: [] } as Dirs);
        d.list.push({ g, k: g.name });
        if (!d.byKey.has(g.name.key)) d.byKey.set(g.name.key, g);
        if (!d.depths.includes(g.name.rdns.length)) d.depths.push(g.name.rdns.length);
        break;
      }
      case "dNSName":
        addHost((s.dns ??= newHosts()), g, g.value.toLowerCase());
        break;
      case "uniformResourceIdentifier":
        addHost((s.uri ??= newHosts()), g, g.value.toLowerCase());
        break;
      case "rfc822Name": {
        const m = (s.mail ??= { hosts: newHosts(), boxes: new Map(), boxHosts: new Map() });
        const at = g.value.indexOf("@");
        if (at < 0) addHost(m.hosts, g, g.value.toLowerCase());
        else {
          const host = g.value.slice(at + 1).toLowerCase();
          m.hosts.list.push({ g, k: g.value });
          m.boxes.set(`${g.value.slice(0, at)}@${host}`, g);
          if (!m.boxHosts.has(host)) m.boxHosts.set(host, g);
        }
        break;
      }
      case "iPAddress": {
        const k = g.value.slice();
        const half = k.length / 2;
        for (let i = 0; i < half; i++) k[i] &= k[half + i]; // host bits beyond the mask are ignored
        (s.ip ??= []).push({ g, k });
        break;
      }
      default:
        (s.other ??= []).push(g);
    }
  }
  s.dn?.depths.sort((a, b) => a - b);
  return s;
}

const compiled = new WeakMap<NameConstraints, { permitted?: Side; excluded?: Side }>();

// ------------------------------------------------------------------ matching: the constraint a name falls in, if any

/** dNSName: "example.com" is that host and any name with labels added on the left; ".example.com" subdomains only. */
function findDns(h: Hosts, n: string, excluded: boolean): GeneralName | undefined {
  if (h.all) return h.all;
  for (let p = 0; ; ) {
    const c = h.exact.get(p === 0 ? n : n.slice(p)) ?? (p > 0 ? h.under.get(n.slice(p - 1)) : undefined);
    if (c) return c;
    const dot = n.indexOf(".", p);
    if (dot < 0) break;
    p = dot + 1;
  }
  // A wildcard "*.rest" is also excluded by a host it covers ("x.rest"). A ".domain"
  // needs nothing more: "*.rest" ends with ".domain" exactly when some "x.rest" does.
  return excluded && n.startsWith("*.") ? h.parent.get(n.slice(1)) : undefined;
}

/** A host against URI or mail host constraints: "host" exactly, ".domain" any subdomain. */
function findHost(h: Hosts, host: string): GeneralName | undefined {
  if (h.all) return h.all;
  const c = h.exact.get(host);
  if (c) return c;
  for (let p = host.indexOf("."); p >= 0; p = host.indexOf(".", p + 1)) {
    const d = h.under.get(host.slice(p));
    if (d) return d;
  }
  return undefined;
}

/** `utf8`: an SmtpUTF8Mailbox, compared by domain only (RFC 9598 section 6). */
interface Mailbox {
  local: string;
  host: string;
  utf8: boolean;
}

function findMail(m: Mail, n: Mailbox): GeneralName | undefined {
  return findHost(m.hosts, n.host) ?? (n.utf8 ? m.boxHosts.get(n.host) : m.boxes.get(`${n.local}@${n.host}`));
}

/** directoryName: the constraint's RDNs are the name's first RDNs (its key a prefix of the name's, on an RDN boundary). */
function findDn(d: Dirs, n: ParsedName): GeneralName | undefined {
  let depth = 0;
  let end = -1; // where the key of the first `depth` RDNs ends in n.key (before the ",")
  for (const want of d.depths) {
    if (want > n.rdns.length) break;
    while (depth < want) end += n.rdns[depth++].length + 1;
    const c = d.byKey.get(want === n.rdns.length ? n.key : n.key.slice(0, Math.max(end, 0)));
    if (c) return c;
  }
  return undefined;
}

/** iPAddress: a name of the constraint's version whose masked address equals the constraint's. */
function findIp(subs: Sub<Uint8Array>[], n: Uint8Array): GeneralName | undefined {
  next: for (const { g, k } of subs) {
    const half = k.length / 2;
    if (n.length !== half) continue;
    for (let i = 0; i < half; i++) if ((n[i] & k[half + i]) !== k[i]) continue next;
    return g;
  }
  return undefined;
}

/** local@host, the host lowercased (and, for an SmtpUTF8Mailbox, in A-labels); undefined when it is no mailbox. */
function mailbox(s: string, utf8: boolean): Mailbox | undefined {
  const at = s.lastIndexOf("@");
  if (at <= 0) return undefined;
  let host = s.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (utf8 && /[^\x00-\x7f]/.test(host)) host = domainToASCII(host);
  host = host.toLowerCase();
  return isHost(host) ? { local: s.slice(0, at), host, utf8 } : undefined;
}

/** RFC 3986 3.1 scheme; 3.2.1 userinfo: unreserved, pct-encoded, sub-delims, ":" (so no "@"). */
const SCHEME = /^[a-z][a-z0-9+.-]*$/i;
const USERINFO = /^(?:[a-z0-9._~!$&'()*+,;=:-]|%[0-9a-f]{2})*$/i;
/** WHATWG URL parsers read a host whose last label is a number (decimal or 0x hex) as IPv4. */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/;

/**
 * The host of a URI with an authority whose host is a domain name (RFC 5280 4.2.1.10); undefined
 * for no authority, an IP literal, or anything outside RFC 3986's grammar in the scheme or the
 * authority (a backslash, whitespace, a control, a second "@", a percent-encoded host, ...):
 * parsers disagree on such a URI's host (WHATWG URL reads "http://example.com\@evil.com/" as
 * example.com), so it cannot be compared.
 */
function uriHost(uri: string): string | undefined {
  const colon = uri.indexOf(":");
  if (colon <= 0 || uri.charCodeAt(colon + 1) !== 47 || uri.charCodeAt(colon + 2) !== 47 || !SCHEME.test(uri.slice(0, colon))) return undefined;
  let auth = /^[^/?#]*/.exec(uri.slice(colon + 3))![0];
  const at = auth.indexOf("@");
  if (at >= 0 && !USERINFO.test(auth.slice(0, at))) return undefined;
  auth = auth.slice(at + 1);
  if (auth[0] === "[") return undefined; // IPv6 / IPvFuture literal
  const port = auth.lastIndexOf(":");
  if (port >= 0 && !/^[0-9]*$/.test(auth.slice(port + 1))) return undefined; // 3.2.3 port = *DIGIT
  if (port >= 0) auth = auth.slice(0, port);
  // reg-name, restricted to host names: no pct-encoding, no sub-delims, no empty label.
  const host = auth.toLowerCase();
  if (!isHost(host) || NUMERIC_LAST_LABEL.test(host)) return undefined; // IPv4 literal, or read as one
  return host;
}

// ------------------------------------------------------------------ forms

interface Form<F, N> {
  name: string;
  pick(s: Side): F | undefined;
  find(f: F, n: N, excluded: boolean): GeneralName | undefined;
  list(f: F): readonly Sub<unknown>[];
}
const DN: Form<Dirs, ParsedName> = { name: "directoryName", pick: (s) => s.dn, find: findDn, list: (f) => f.list };
const DNS: Form<Hosts, string> = { name: "dNSName", pick: (s) => s.dns, find: findDns, list: (f) => f.list };
const MAIL: Form<Mail, Mailbox> = { name: "rfc822Name", pick: (s) => s.mail, find: findMail, list: (f) => f.hosts.list };
const URI: Form<Hosts, string> = { name: "uniformResourceIdentifier", pick: (s) => s.uri, find: findHost, list: (f) => f.list };
const IP: Form<Sub<Uint8Array>[], Uint8Array> = { name: "iPAddress", pick: (s) => s.ip, find: findIp, list: (f) => f };

const MAX_SHOWN = 3;
function listed(subs: readonly Sub<unknown>[]): string {
  const shown = subs.slice(0, MAX_SHOWN).map((x) => showGeneralName(x.g));
  return subs.length > MAX_SHOWN ? `${shown.join(", ")}, ... (${subs.length} in all)` : shown.join(", ");
}

// ------------------------------------------------------------------ the state

/**
 * The constraints of the CAs above the certificate being checked, gathered top-down.
 * Keeping each CA's permitted subtrees apart (a name must fall in every CA's permitted
 * subtrees of its form) is the RFC's intersection without computing it.
 */
export class NameConstraintsState {
  private entries: Entry[] | undefined;

  /** True while no CA above has constrained anything (the common case costs nothing). */
  get empty(): boolean {
    return this.entries === undefined;
  }

  /** Adds the constraints of a CA certificate (6.1.4 (g)); `from` names the CA in details. */
  add(nc: NameConstraints, from: string): void {
    let c = compiled.get(nc);
    if (!c) compiled.set(nc, (c = { permitted: compileSide(nc.permitted), excluded: compileSide(nc.excluded) }));
    if (!c.permitted && !c.excluded) return;
    (this.entries ??= []).push({ from, permitted: c.permitted, excluded: c.excluded });
  }

  /**
   * Checks a certificate's names (6.1.3 (b)-(c)): its subject (with the subject's emailAddress
   * attributes as rfc822Names) and every subjectAltName. The caller skips a self-issued
   * intermediate altogether, as 6.1.3 (b) and (c) say.
   */
  check(cert: Certificate): NameViolation | undefined {
    const entries = this.entries;
    if (entries === undefined) return undefined;
    let v: NameViolation | undefined;
    const s = cert.subject;
    // 4.2.1.10: directoryName constraints apply to a non-empty subject.
    if (!s.empty && (v = judge(entries, DN, s, `directoryName:${s.display} (subject)`))) return v;
    for (const e of s.emails) if ((v = judge(entries, MAIL, mailbox(e, false), `rfc822Name:${e} (subject emailAddress)`))) return v;
    for (const e of s.opaqueEmails) if ((v = judge(entries, MAIL, undefined, `emailAddress #${e} (subject, not a string)`))) return v;
    for (const g of cert.subjectAltNames) if ((v = checkName(entries, g))) return v;
    return undefined;
  }
}

function checkName(entries: readonly Entry[], g: GeneralName): NameViolation | undefined {
  switch (g.type) {
    case "directoryName":
      return judge(entries, DN, g.name, showGeneralName(g));
    case "dNSName": {
      const n = g.value.toLowerCase();
      return judge(entries, DNS, isHost(n.startsWith("*.") ? n.slice(2) : n) ? n : undefined, showGeneralName(g));
    }
    case "rfc822Name":
      return judge(entries, MAIL, mailbox(g.value, false), showGeneralName(g));
    case "uniformResourceIdentifier":
      return judge(entries, URI, uriHost(g.value), showGeneralName(g));
    case "iPAddress":
      return judge(entries, IP, g.value.length === 4 || g.value.length === 16 ? g.value : undefined, showGeneralName(g));
    case "otherName":
      if (g.oid === OID.smtpUtf8Mailbox) {
        const box = smtpUtf8Mailbox(g.value);
        const v = judge(entries, MAIL, box === undefined ? undefined : mailbox(box, true), `SmtpUTF8Mailbox:${box ?? "(malformed)"}`);
        if (v) return v;
      }
      return unsupported(entries, g);
    default:
      return unsupported(entries, g);
  }
}

/**
 * One name against every CA's subtrees of its form: excluded by any, or outside the
 * permitted subtrees of one CA that has some. `n` undefined: the name cannot be
 * compared (no mailbox, no host, bad syntax), refused wherever its form is constrained.
 */
function judge<F, N>(entries: readonly Entry[], form: Form<F, N>, n: N | undefined, shown: string): NameViolation | undefined {
  for (const e of entries) {
    const ex = e.excluded && form.pick(e.excluded);
    const pe = e.permitted && form.pick(e.permitted);
    if (!ex && !pe) continue;
    if (n === undefined) return { code: "name-not-permitted", detail: `${shown} cannot be compared with the ${form.name} constraints of "${e.from}" (RFC 5280 4.2.1.10: reject)` };
    const c = ex && form.find(ex, n, true);
    if (c) return { code: "name-excluded", detail: `${shown} is within the excluded subtree ${showGeneralName(c)} of "${e.from}"` };
    if (pe && !form.find(pe, n, false)) return { code: "name-not-permitted", detail: `${shown} is not within the permitted ${form.name} subtrees of "${e.from}" (${listed(form.list(pe))})` };
  }
  return undefined;
}

/** Whether a constraint of a form this module does not compare applies to the name `g`. */
const sameForm = (c: GeneralName, g: GeneralName): boolean => c.type === g.type && (c.type !== "otherName" || c.oid === (g as typeof c).oid);

function unsupported(entries: readonly Entry[], g: GeneralName): NameViolation | undefined {
  for (const e of entries) {
    const c = e.permitted?.other?.find((x) => sameForm(x, g)) ?? e.excluded?.other?.find((x) => sameForm(x, g));
    if (c) return { code: "name-constraints-unsupported", detail: `${showGeneralName(g)}: "${e.from}" constrains ${showGeneralName(c)} names, which this validator cannot compare (RFC 5280 4.2.1.10: process or reject)` };
  }
  return undefined;
}
