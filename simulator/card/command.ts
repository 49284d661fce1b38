import type { CommandApdu } from "../../core/index.js";

/**
 * A command APDU as the card OS hands it to an applet: core's decoded APDU
 * (for the last part of a chain, `data` is every part joined), plus what only
 * the card knows.
 */
export type Command = CommandApdu & {
  /**
   * True when this command dropped an unfinished chain of another command
   * header. Absent otherwise: set on that rare path only, so the per-APDU
   * object keeps the shape core's decoder gives it.
   */
  interruptsChain?: boolean;
};
