/**
 * The one escaping of report text, for every HTML page and the JUnit XML:
 * what a CA, a card or a scenario file said can hold markup and control
 * characters, and a report shows it as text.
 */

/**
 * C0 controls other than tab, LF and CR, and the non-characters U+FFFE/U+FFFF:
 * XML 1.0 cannot carry them even escaped, and HTML forbids them in text. Every
 * report shows each as "?", so a hidden character is seen, and seen alike in
 * each format.
 */
const UNSHOWABLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

export function showable(s: string): string {
  return s.replace(UNSHOWABLE, "?");
}

const ENTITIES: Record<string, string> = { "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" };

/** Text for an HTML element or a quoted attribute value. */
export function escapeHtml(s: string): string {
  return showable(s).replace(/[<>&"']/g, (c) => ENTITIES[c]);
}

/**
 * A value as a JavaScript literal inside an inline <script>: "<" is written
 * \u003c, so no string in it can close the script (`</script>`) or open a
 * comment (`<!--`). JSON's own escaping already covers the rest.
 */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}
