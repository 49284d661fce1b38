/**
 * The names of the instructions cardloop meets, in one table: ISO 7816-4 and
 * PIV (SP 800-73-4) ones, and the YubiKey's under the PIV AID. Reports, trace
 * decoding, fault profiles and card rebuilding all name instructions from here.
 */
export interface InstructionInfo {
  ins: number;
  name: string;
  /** Set for a vendor's instruction (named with it in full names). */
  vendor?: "YubiKey";
}

export const INSTRUCTIONS: readonly InstructionInfo[] = [
  { ins: 0xa4, name: "SELECT" },
  { ins: 0xcb, name: "GET DATA" },
  { ins: 0xca, name: "GET DATA" },
  { ins: 0xdb, name: "PUT DATA" },
  { ins: 0x20, name: "VERIFY" },
  { ins: 0x24, name: "CHANGE REFERENCE DATA" },
  { ins: 0x2c, name: "RESET RETRY COUNTER" },
  { ins: 0x87, name: "GENERAL AUTHENTICATE" },
  { ins: 0x47, name: "GENERATE ASYMMETRIC KEY PAIR" },
  { ins: 0xc0, name: "GET RESPONSE" },
  { ins: 0x84, name: "GET CHALLENGE" },
  { ins: 0x2a, name: "PERFORM SECURITY OPERATION" },
  { ins: 0x88, name: "INTERNAL AUTHENTICATE" },
  { ins: 0x82, name: "EXTERNAL AUTHENTICATE" },
  { ins: 0xb0, name: "READ BINARY" },
  { ins: 0xb2, name: "READ RECORD" },
  { ins: 0xfd, name: "GET VERSION", vendor: "YubiKey" },
  { ins: 0xf8, name: "GET SERIAL", vendor: "YubiKey" },
  { ins: 0xf7, name: "GET METADATA", vendor: "YubiKey" },
  { ins: 0xfb, name: "RESET", vendor: "YubiKey" },
  { ins: 0xff, name: "SET MANAGEMENT KEY", vendor: "YubiKey" },
  { ins: 0xfe, name: "IMPORT ASYMMETRIC KEY", vendor: "YubiKey" },
  { ins: 0xf9, name: "ATTEST", vendor: "YubiKey" },
  { ins: 0xfa, name: "SET PIN RETRIES", vendor: "YubiKey" },
];

const BY_INS = new Map<number, InstructionInfo>();
for (const i of INSTRUCTIONS) if (!BY_INS.has(i.ins)) BY_INS.set(i.ins, i);

/** Names a user may write for an instruction (fault profiles): shorter forms people use. */
const ALIASES: Readonly<Record<string, number>> = { GENERATE: 0x47, "IMPORT KEY": 0xfe };

function hex2(n: number): string {
  return (n & 0xff).toString(16).toUpperCase().padStart(2, "0");
}

/** The instruction's name ("GET DATA"), or "INS XX" for one this table does not know. */
export function insName(ins: number): string {
  return BY_INS.get(ins)?.name ?? `INS ${hex2(ins)}`;
}

/** The name with its vendor ("GET SERIAL (YubiKey)"), for a reader of a trace. */
export function insFullName(ins: number): string {
  const i = BY_INS.get(ins);
  return i === undefined ? `INS ${hex2(ins)}` : i.vendor ? `${i.name} (${i.vendor})` : i.name;
}

function normalise(name: string): string {
  return name.toUpperCase().replace(/[\s_-]+/g, " ").trim();
}

/** The INS byte a name stands for (case, spaces, dashes and underscores do not matter), or undefined. */
export function insByName(name: string): number | undefined {
  const n = normalise(name);
  if (n in ALIASES) return ALIASES[n];
  return INSTRUCTIONS.find((i) => i.name === n)?.ins;
}
