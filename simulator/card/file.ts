import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { CardloopError, FormatError, errorMessage } from "../../core/index.js";
import { PivCard } from "./piv-card.js";

/** Writes the card file atomically (temp file + rename), mode 0600: it holds the card's secrets. */
export function saveCard(card: PivCard, path: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(card.toJSON(), null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads a card file; an unreadable or malformed file is a CardloopError with a one-line reason. */
export function loadCard(path: string): PivCard {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CardloopError("card-file", `cannot read card file ${path}: ${errorMessage(err)}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    // V8's message may quote the text around the error, and this text holds the PIN,
    // PUK and management key: keep only the position.
    const at = /position (\d+)/.exec(errorMessage(err));
    throw new FormatError("card file", `${path} is not JSON${at ? ` (syntax error at position ${at[1]})` : ""}`);
  }
  return PivCard.fromJSON(obj);
}
