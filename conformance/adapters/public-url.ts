/** A base URL fit for reports: credentials a user put into it (http://user:secret@host) left out. */
export function publicUrl(base: string): string {
  try {
    const u = new URL(base);
    if (!u.username && !u.password && !u.search && !u.hash) return base;
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.href.replace(/\/$/, "");
  } catch {
    return "(an unparsable URL)";
  }
}
