/**
 * Where a secret would show if it leaked into a log or report: as a token of
 * its own (a JSON value, a word in a message), or as the hex of its bytes (an
 * unmasked APDU). A bare substring test is not enough the other way round: a
 * six-digit PIN turns up by chance inside the hex of signatures and keys in a
 * 300 KB run log a few times in a hundred runs.
 */
export function leaks(text: string, secret: string): boolean {
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (new RegExp(`(?<![0-9A-Za-z+/])${escaped}(?![0-9A-Za-z+/])`).test(text)) return true;
  const hex = Buffer.from(secret, "utf8").toString("hex");
  return text.toLowerCase().includes(hex);
}
