/**
 * A check's evidence as parts a reader can paste into openssl: a PEM block is
 * kept whole with its line breaks (JSON would write them "\n"), a hex string
 * as it is, everything else as JSON. PEM blocks inside nested values are
 * lifted out the same way, and the JSON says where they went.
 */
export type EvidencePart =
  | { key: string; kind: "pem" | "hex"; text: string }
  | { key: string; kind: "json"; text: string; value: unknown };

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;
const HEX = /^(?:0x)?[0-9a-fA-F]{2,}$|^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})+$/;

const isPem = (v: unknown): v is string => typeof v === "string" && PEM.test(v);

/**
 * Hex, not a decimal that happens to use only hex digits (a CRL number "13",
 * a count "42"): digits alone are hex only when they are whole bytes and at
 * least 8 of them (a serial, a key identifier); any a-f, or a 0x prefix, says
 * hex by itself.
 */
export function isHex(v: unknown): v is string {
  if (typeof v !== "string" || !HEX.test(v)) return false;
  if (/^0x/.test(v)) return true;
  const digits = v.replace(/:/g, "");
  return /[a-fA-F]/.test(digits) || (digits.length % 2 === 0 && digits.length >= 16);
}

export function evidenceParts(evidence: Record<string, unknown>): EvidencePart[] {
  const parts: EvidencePart[] = [];
  for (const [key, v] of Object.entries(evidence)) {
    if (isPem(v)) parts.push({ key, kind: "pem", text: v });
    else if (isHex(v)) parts.push({ key, kind: "hex", text: v });
    else {
      const pems: EvidencePart[] = [];
      const value = liftPems(v, key, pems);
      parts.push({ key, kind: "json", text: JSON.stringify(value, null, 2) ?? "null", value }, ...pems);
    }
  }
  return parts;
}

/** `v` with each nested PEM string replaced by a pointer to its own part, pushed to `out`. */
function liftPems(v: unknown, path: string, out: EvidencePart[]): unknown {
  if (isPem(v)) {
    out.push({ key: path, kind: "pem", text: v });
    return `(PEM: see ${path})`;
  }
  if (Array.isArray(v)) return v.map((x, i) => liftPems(x, `${path}[${i}]`, out));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, liftPems(x, `${path}.${k}`, out)]));
  return v;
}
