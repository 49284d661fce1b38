/**
 * The emulated card's ATR, shaped like a contact PIV token's:
 *   3B F8 13 00 00 81 31 FE 15  "cardloop"  TCK
 * T0=F8 (TA1 TB1 TC1 TD1, 8 historical bytes), TA1=13, TB1=TC1=00,
 * TD1=81 (TD2 follows, T=1), TD2=31 (TA3 TB3, T=1), TA3=FE (IFSC 254),
 * TB3=15 (BWI/CWI), then the check byte. It must not look like the
 * 3B 8x 80 01 of a contactless card: OpenSC treats those as contactless
 * interfaces and restricts what it does with them.
 */
function buildAtr(): Uint8Array {
  const body = [0xf8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, ...new TextEncoder().encode("cardloop")];
  const tck = body.reduce((a, b) => a ^ b, 0);
  return Uint8Array.from([0x3b, ...body, tck]);
}

export const ATR: Uint8Array = buildAtr();
