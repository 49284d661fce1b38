/**
 * Whether JSON `text` nests arrays and objects deeper than `max`: one pass, no
 * recursion, brackets inside strings ignored. Servers run it on a body before
 * JSON.parse, whose recursion a deep enough body overflows. It does not
 * validate (JSON.parse does): an unbalanced text just ends the scan.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
