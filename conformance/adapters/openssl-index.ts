import { REVOCATION_REASONS, type RevocationReason } from "../../core/index.js";
import { normSerial } from "../pkix.js";

/** OpenSSL's CA database (index.txt), its time format and its reason names, as the OpenSSL adapter reads and writes them. */

/**
 * RFC 5280's reasons as openssl ca knows them (apps/ca.c's crl_reasons): the
 * names up to removeFromCRL, cACompromise spelt "CACompromise";
 * privilegeWithdrawn and aACompromise it does not know.
 */
export const UNKNOWN_TO_OPENSSL: readonly RevocationReason[] = ["privilegeWithdrawn", "aACompromise"];
const OPENSSL_SPELLING: Partial<Record<RevocationReason, string>> = { cACompromise: "CACompromise" };
const KNOWN_TO_OPENSSL = REVOCATION_REASONS.filter((r) => !UNKNOWN_TO_OPENSSL.includes(r));

/** Reasons `openssl ca -crl_reason` is given; a hold is not one of them (openssl ca -crl_hold, which the adapter does not offer). */
export const OPENSSL_REASONS: Partial<Record<RevocationReason, string>> = Object.fromEntries(
  KNOWN_TO_OPENSSL.filter((r) => r !== "certificateHold").map((r) => [r, OPENSSL_SPELLING[r] ?? r]),
);

/** index.txt's reason field (openssl writes it in any case) -> the reason: a hold written by hand is read too. */
export const REASON_FROM_INDEX: Record<string, RevocationReason> = Object.fromEntries(KNOWN_TO_OPENSSL.map((r) => [r.toLowerCase(), r]));

export interface IndexRow {
  status: "V" | "R" | "E";
  expiry: string;
  revoked: string;
  serialCol: string;
  file: string;
  subject: string;
}

export function parseIndex(text: string): IndexRow[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [status, expiry, revoked, serialCol, file, subject] = l.split("\t");
      return { status: status as IndexRow["status"], expiry, revoked, serialCol, file, subject };
    });
}

export function formatIndex(rows: IndexRow[]): string {
  return rows.map((r) => [r.status, r.expiry, r.revoked, r.serialCol, r.file, r.subject].join("\t")).join("\n") + (rows.length ? "\n" : "");
}

/** openssl's YYMMDDHHMMSSZ. */
export function opensslTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds()) + "Z"
  );
}

export function parseOpensslTime(s: string): Date {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new Error(`bad openssl time ${s}`);
  const y = Number(m[1]) + (Number(m[1]) < 50 ? 2000 : 1900);
  return new Date(Date.UTC(y, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/**
 * A fault option (`ocsp.index`): the copy of index.txt `openssl ocsp` answers
 * from instead of the CA's own ("live"), and what a report says of it.
 */
export const INDEX_DOCTORING = {
  live: undefined,
  "drop-valid": "without its valid certificates",
  "revoked-as-good": "with revoked certificates marked valid",
  "strip-reasons": "stripped of revocation reasons",
  "good-for-unknown": "with a valid row invented for every serial asked about",
} as const;
export type IndexDoctoring = keyof typeof INDEX_DOCTORING;

/**
 * A fault option (`crl.entries`): the copy of index.txt `openssl ca -gencrl`
 * makes the CRL from instead of the CA's own ("faithful"), and what a report
 * says of it.
 */
export const CRL_ENTRY_DOCTORING = {
  faithful: undefined,
  "strip-reasons": "stripped of reasons",
  "restamp-dates": "restamped with the CRL's time",
} as const;
export type CrlEntryDoctoring = keyof typeof CRL_ENTRY_DOCTORING;

/** What the doctoring is given: the serials of the OCSP request (unreadable: none), the CRL's time as openssl writes it. */
export interface DoctoringInput {
  asked?: () => string[];
  stamp?: string;
}

/** The rows as `mode` doctors them, for `openssl ocsp` (IndexDoctoring) or `openssl ca -gencrl` (CrlEntryDoctoring). */
export function doctorIndex(rows: IndexRow[], mode: IndexDoctoring | CrlEntryDoctoring, given: DoctoringInput = {}): IndexRow[] {
  if (mode === "drop-valid") return rows.filter((r) => r.status !== "V");
  if (mode === "revoked-as-good") return rows.map((r) => (r.status === "R" ? { ...r, status: "V" as const, revoked: "" } : r));
  if (mode === "strip-reasons") return rows.map((r) => (r.status === "R" ? { ...r, revoked: r.revoked.split(",")[0] } : r));
  if (mode === "restamp-dates") {
    const stamp = given.stamp;
    if (!stamp) throw new Error("restamp-dates needs the CRL's time");
    return rows.map((r) => {
      if (r.status !== "R") return r;
      const why = r.revoked.split(",")[1];
      return { ...r, revoked: why ? `${stamp},${why}` : stamp };
    });
  }
  if (mode !== "good-for-unknown") return rows;
  let serials: string[];
  try {
    serials = given.asked?.() ?? [];
  } catch {
    serials = [];
  }
  const known = new Set(rows.map((r) => normSerial(r.serialCol)));
  const invented = serials.filter((s) => !known.has(s));
  return [...rows, ...invented.map((s) => ({ status: "V" as const, expiry: "491231235959Z", revoked: "", serialCol: s.toUpperCase(), file: "unknown", subject: "/CN=invented" }))];
}
