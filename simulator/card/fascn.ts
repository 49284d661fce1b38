/**
 * FASC-N (SP 800-73-4 / TIG SCEPACS): 40 characters of 5 bits (4 data bits,
 * least significant first, plus odd parity) = 25 bytes.
 */
const SS = 0xb;
const FS = 0xd;
const ES = 0xf;

export interface FascnFields {
  agency: string; // 4 digits
  system: string; // 4 digits
  credential: string; // 6 digits
  series: string; // 1 digit
  issue: string; // 1 digit
  person: string; // 10 digits
  orgCategory: string; // 1 digit
  org: string; // 4 digits
  association: string; // 1 digit
}

export function encodeFascn(f: FascnFields): Uint8Array {
  const digits = (s: string, n: number) => {
    if (!new RegExp(`^\\d{${n}}$`).test(s)) throw new RangeError(`FASC-N field must be ${n} digits: ${s}`);
    return [...s].map(Number);
  };
  const chars = [
    SS, ...digits(f.agency, 4), FS, ...digits(f.system, 4), FS, ...digits(f.credential, 6), FS,
    ...digits(f.series, 1), FS, ...digits(f.issue, 1), FS, ...digits(f.person, 10),
    ...digits(f.orgCategory, 1), ...digits(f.org, 4), ...digits(f.association, 1), ES,
  ];
  let lrc = 0;
  for (const c of chars) lrc ^= c;
  chars.push(lrc);
  const bits: number[] = [];
  for (const c of chars) {
    let ones = 0;
    for (let i = 0; i < 4; i++) {
      const b = (c >> i) & 1;
      ones += b;
      bits.push(b);
    }
    bits.push(ones % 2 === 0 ? 1 : 0);
  }
  const out = new Uint8Array(25);
  for (let i = 0; i < 200; i++) if (bits[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}
