import type { Caller, EmbeddedCa, IssueRequest, IssuedCertificate, RevokeRequest } from "../../simulator/ca/index.js";

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

/**
 * Wraps an embedded CA's issue and revoke so that `into` learns its tokens,
 * every cancellation code it hands out and every credential a terminal sends
 * it: the secrets a leak test then looks for.
 */
export function spyOnCa(ca: EmbeddedCa, into: Set<string>): void {
  for (const token of [ca.operatorToken, ca.raToken]) if (token) into.add(token);
  const issue = ca.issue.bind(ca);
  const revoke = ca.revoke.bind(ca);
  ca.issue = async (req: IssueRequest, caller?: Caller): Promise<IssuedCertificate> => {
    const r = await issue(req, caller);
    for (const code of Object.values(r.cancellationCodes ?? {})) if (code) into.add(code);
    return r;
  };
  ca.revoke = async (req: RevokeRequest, caller?: Caller) => {
    if (req.code) into.add(req.code);
    if (req.operatorToken) into.add(req.operatorToken);
    for (const [q, a] of Object.entries(req.answers ?? {})) if (q !== "holderId") into.add(a); // the holder id is public, the answers are not
    return revoke(req, caller);
  };
}
