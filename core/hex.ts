/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Parses hex, ignoring spaces and colons; throws a RangeError on anything else. */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, "");
  // The message never quotes the input: hex on a command line is often a key or a PIN.
  const bad = clean.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new RangeError(`invalid hex: character ${bad + 1} is not a hex digit`);
  if (clean.length % 2 !== 0) throw new RangeError(`invalid hex: odd number of digits (${clean.length})`);
  return new Uint8Array(Buffer.from(clean, "hex"));
}

/** Serial numbers compared as integers: "00ab", "00:AB" and "ab" are one serial. */
export function normSerial(hex: string): string {
  const h = hex.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  return h === "" ? "0" : BigInt("0x" + h).toString(16);
}

// Byte helpers that need no Buffer live in bytes.ts (the browser face exports them); kept here for old importers.
export { concatBytes, bytesEqual } from "./bytes.js";
