import { DecodeError } from "./errors.js";

/**
 * PEM or DER input: DER is returned as is; PEM yields every block with the wanted
 * label (or any label when none is given), base64-decoded.
 *
 * A linear scan rather than one regular expression: a lazy `BEGIN ... END \1` pattern
 * rescans to the end of the text for every BEGIN without its END, which is quadratic
 * on hostile input. A BEGIN without its END is an error, so every byte is read once or twice.
 */
export function decodePem(text: string, label?: string): Uint8Array[] {
  return pemBlocks(text, label).map((b) => b.der);
}

/**
 * Every block with the wanted label (any label when none is given) as its own PEM
 * string, re-encoded by `encodePem` under the label it was found with: a chain of
 * certificates split into one PEM per certificate. Same scan and errors as `decodePem`.
 */
export function splitPem(text: string, label?: string): string[] {
  return pemBlocks(text, label).map((b) => encodePem(b.der, b.label));
}

function pemBlocks(text: string, label?: string): Array<{ label: string; der: Uint8Array }> {
  const out: Array<{ label: string; der: Uint8Array }> = [];
  const BEGIN = "-----BEGIN ";
  const DASHES = "-----";
  let p = text.indexOf(BEGIN);
  while (p >= 0) {
    const labelStart = p + BEGIN.length;
    const labelEnd = text.indexOf(DASHES, labelStart);
    if (labelEnd < 0) throw new DecodeError("PEM header without its closing dashes");
    const found = text.slice(labelStart, labelEnd);
    if (found.length === 0 || found.length > 64 || !/^[A-Z0-9 ]+$/.test(found)) {
      p = text.indexOf(BEGIN, labelEnd);
      continue;
    }
    const endMarker = `-----END ${found}-----`;
    const bodyStart = labelEnd + DASHES.length;
    const end = text.indexOf(endMarker, bodyStart);
    if (end < 0) throw new DecodeError(`PEM ${found} block without its END line`);
    if (!label || found === label || (label === "CERTIFICATE" && found === "TRUSTED CERTIFICATE")) {
      const b64 = text.slice(bodyStart, end).replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) throw new DecodeError(`bad base64 in PEM ${found}`);
      out.push({ label: found, der: new Uint8Array(Buffer.from(b64, "base64")) });
    }
    p = text.indexOf(BEGIN, end + endMarker.length);
  }
  return out;
}

/** Certificates/CRLs/responses in a file's bytes: PEM blocks if it looks like PEM, else one DER object. */
export function readPemOrDer(bytes: Uint8Array, label?: string): Uint8Array[] {
  const head = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 4096))).toString("latin1");
  if (head.includes("-----BEGIN ")) {
    const blocks = decodePem(Buffer.from(bytes).toString("latin1"), label);
    if (blocks.length === 0) throw new DecodeError(`no PEM ${label ?? ""} block found`.replace("  ", " "));
    return blocks;
  }
  if (bytes.length === 0 || bytes[0] !== 0x30) throw new DecodeError("neither PEM nor DER");
  return [bytes];
}

/** The one PEM writer: base64 in 64-column lines (RFC 7468), ending with a newline. */
export function encodePem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  // Lines of 64 (RFC 7468) by slicing: a RegExp over the text cost 3-5% of the CA's thread when issuing in batches.
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The first PEM block with `label` (any label when none is given), as DER; DecodeError when there is none. */
export function pemToDer(text: string, label?: string): Uint8Array {
  const [first] = decodePem(text, label);
  if (!first) throw new DecodeError(label ? `no PEM ${label} block` : "no PEM block");
  return first;
}
