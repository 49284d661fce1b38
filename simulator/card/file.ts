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
    throw new FormatError("card file", `${path} is not JSON (${errorMessage(err)})`);
  }
  return PivCard.fromJSON(obj);
}
