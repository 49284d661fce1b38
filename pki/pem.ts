import { DecodeError } from "./errors.js";

/**
 * PEM or DER input: DER is returned as is; PEM yields every block with the wanted
 * label (or any label when none is given), base64-decoded.
 */
export function decodePem(text: string, label?: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (label && m[1] !== label && !(label === "CERTIFICATE" && m[1] === "TRUSTED CERTIFICATE")) continue;
    const b64 = m[2].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new DecodeError(`bad base64 in PEM ${m[1]}`);
    out.push(new Uint8Array(Buffer.from(b64, "base64")));
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
