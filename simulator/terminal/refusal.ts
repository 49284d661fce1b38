import { CardloopError } from "../../core/index.js";

/**
 * Why a terminal declined to do what it was asked. These are outcomes a
 * scenario expects (a wrong PIN, an expired card), not bugs: the engine reports
 * them as `refused` with this reason.
 */
export type RefusalReason =
  | "wrong-pin"
  | "pin-blocked"
  | "wrong-puk"
  | "puk-blocked"
  | "card-expired"
  | "card-absent"
  | "not-personalised"
  | "bad-signature"
  | "certificate-invalid"
  | "ca-refused";

export class TerminalRefusal extends CardloopError {
  constructor(
    readonly reason: RefusalReason | string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super("refused", message);
  }
}
