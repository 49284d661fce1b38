import { FormatError } from "../../core/index.js";

/**
 * Answer-to-Reset parsing (ISO/IEC 7816-3 section 8): TS, T0, the interface
 * bytes TA/TB/TC/TD per level, historical bytes, TCK; plus what a reader
 * qualification needs from it: the protocols offered and, from the
 * historical bytes (ISO/IEC 7816-4 8.1.1), whether the card announces
 * extended Lc/Le.
 */
export interface InterfaceBytes {
  /** 1 for TA1/TB1/TC1/TD1, 2 for TA2..., and so on. */
  level: number;
  ta?: number;
  tb?: number;
  tc?: number;
  td?: number;
}

export interface HistoricalInfo {
  /** "compact-tlv" (category 00 or 80), "dir-reference" (10) or "proprietary". */
  category: "compact-tlv" | "dir-reference" | "proprietary" | "none";
  /** COMPACT-TLV objects found: tag nibble -> value. */
  objects: Array<{ tag: number; value: Uint8Array }>;
  /** Card capabilities (tag 7), third software-function byte, bit b7: extended Lc and Le. */
  extendedLength?: boolean;
  /** Card capabilities third byte, b8: command chaining. */
  commandChaining?: boolean;
}

export interface ParsedAtr {
  bytes: Uint8Array;
  ts: number;
  convention: "direct" | "inverse";
  t0: number;
  interfaces: InterfaceBytes[];
  historical: Uint8Array;
  historicalInfo: HistoricalInfo;
  /** Protocols the card offers (T=0 when no TD1 says otherwise), ascending, unique. */
  protocols: number[];
  tck?: number;
  /** Undefined when the ATR carries no TCK (T=0 only). */
  tckValid?: boolean;
  /** TA1's FI/DI (clock rate conversion and baud rate adjustment factor indices). */
  fi?: number;
  di?: number;
}

const fail = (msg: string, offset?: number): never => {
  throw new FormatError("atr", msg, offset);
};

export function parseAtr(bytes: Uint8Array): ParsedAtr {
  if (bytes.length < 2) fail(`ATR shorter than TS T0 (${bytes.length} bytes)`);
  if (bytes.length > 33) fail(`ATR longer than 33 bytes (${bytes.length})`);
  const ts = bytes[0];
  if (ts !== 0x3b && ts !== 0x3f) fail(`TS must be 3B (direct) or 3F (inverse), not ${hex(ts)}`, 0);
  const t0 = bytes[1];
  const k = t0 & 0x0f;
  const interfaces: InterfaceBytes[] = [];
  const offered = new Set<number>();
  let y = t0 >> 4;
  let pos = 2;
  let level = 1;
  let sawTd = false;
  for (;;) {
    const ib: InterfaceBytes = { level };
    const take = (): number => {
      if (pos >= bytes.length) fail(`interface bytes of level ${level} run past the end`, pos);
      return bytes[pos++];
    };
    if (y & 0x1) ib.ta = take();
    if (y & 0x2) ib.tb = take();
    if (y & 0x4) ib.tc = take();
    if (y & 0x8) ib.td = take();
    interfaces.push(ib);
    if (ib.td === undefined) break;
    sawTd = true;
    const t = ib.td & 0x0f;
    // T=15 is not a protocol but global interface bytes
    if (t !== 15) offered.add(t);
    y = ib.td >> 4;
    level++;
  }
  if (!sawTd) offered.add(0);
  if (pos + k > bytes.length) fail(`T0 announces ${k} historical bytes, only ${bytes.length - pos} remain`, pos);
  const historical = bytes.slice(pos, pos + k);
  pos += k;
  const needsTck = [...offered].some((t) => t !== 0) || interfaces.some((i) => i.td !== undefined && (i.td & 0x0f) === 15);
  let tck: number | undefined;
  let tckValid: boolean | undefined;
  if (needsTck) {
    if (pos >= bytes.length) fail("TCK missing (required when a protocol other than T=0 is offered)", pos);
    tck = bytes[pos++];
    let x = 0;
    for (let i = 1; i < pos; i++) x ^= bytes[i];
    tckValid = x === 0;
  }
  if (pos !== bytes.length) fail(`${bytes.length - pos} unexpected byte(s) after the ATR`, pos);
  const ta1 = interfaces[0]?.ta;
  return {
    bytes: Uint8Array.from(bytes),
    ts,
    convention: ts === 0x3b ? "direct" : "inverse",
    t0,
    interfaces,
    historical,
    historicalInfo: parseHistorical(historical),
    protocols: [...offered].sort((a, b) => a - b),
    tck,
    tckValid,
    ...(ta1 !== undefined ? { fi: ta1 >> 4, di: ta1 & 0x0f } : {}),
  };
}

/** Historical bytes: category indicator, then COMPACT-TLV (ISO/IEC 7816-4 8.1.1). */
export function parseHistorical(h: Uint8Array): HistoricalInfo {
  if (h.length === 0) return { category: "none", objects: [] };
  const cat = h[0];
  if (cat === 0x10) return { category: "dir-reference", objects: [] };
  if (cat !== 0x00 && cat !== 0x80) return { category: "proprietary", objects: [] };
  // Category 00 ends with a 3-byte status indicator that is not COMPACT-TLV.
  const end = cat === 0x00 ? Math.max(1, h.length - 3) : h.length;
  const objects: Array<{ tag: number; value: Uint8Array }> = [];
  let p = 1;
  while (p < end) {
    const tag = h[p] >> 4;
    const len = h[p] & 0x0f;
    if (p + 1 + len > end) break; // malformed tail: keep what parsed
    objects.push({ tag, value: h.slice(p + 1, p + 1 + len) });
    p += 1 + len;
  }
  const info: HistoricalInfo = { category: "compact-tlv", objects };
  const caps = objects.find((o) => o.tag === 0x7);
  if (caps && caps.value.length >= 3) {
    info.extendedLength = (caps.value[2] & 0x40) !== 0;
    info.commandChaining = (caps.value[2] & 0x80) !== 0;
  }
  return info;
}

/** A short human description, e.g. "3B direct, T=1, 8 historical bytes (proprietary), TCK ok". */
export function describeAtr(a: ParsedAtr): string {
  const tck = a.tckValid === undefined ? "no TCK" : a.tckValid ? "TCK ok" : "TCK WRONG";
  return `${hex(a.ts)} ${a.convention}, ${a.protocols.map((p) => `T=${p}`).join("+")}, ${a.historical.length} historical bytes (${a.historicalInfo.category}), ${tck}`;
}

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, "0");
}
