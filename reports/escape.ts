/**
 * The one escaping of report text, for every HTML page, the JUnit XML and
 * the Markdown:
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

/**
 * Report text as inert Markdown, on one line. What a CA, a card or a scenario
 * said can hold markup, and GitHub renders raw HTML and Markdown in a step
 * summary: `&`, `<` and `>` become entities (no tag, no fake `<h1>PASS</h1>`),
 * and the inline syntax that could fake structure (links, images, emphasis,
 * code, strikethrough, table pipes) is backslash-escaped. Safe in a table cell
 * and in a list item alike.
 */
export function escapeMarkdown(s: string): string {
  return markdownLine(s)
    .replace(/[\\`*_[\]|~]/g, "\\$&")
    .replace(/[&<>]/g, (c) => ENTITIES[c]);
}

/** Showable text on one line. */
export const markdownLine = (s: string): string => showable(s).replace(/\r\n?|\n/g, " ");

/** The longest backtick run in `s`: a code span or fence must be longer. */
const longestBackticks = (s: string) => Math.max(0, ...(s.match(/`+/g) ?? []).map((x) => x.length));

/** Inline code that survives backticks in the text. */
export function markdownCode(s: string): string {
  const longest = longestBackticks(s);
  const fence = "`".repeat(longest + 1);
  return longest ? `${fence} ${s} ${fence}` : `${fence}${s}${fence}`;
}

/** A fenced block longer than any backtick run inside, so nothing in it can close it. */
export function markdownFence(body: string, lang = ""): string[] {
  const fence = "`".repeat(Math.max(3, longestBackticks(body) + 1));
  return [`${fence}${lang}`, body.replace(/\r?\n$/, ""), fence];
}
