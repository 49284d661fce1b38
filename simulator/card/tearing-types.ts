/** What a tear left in the card's persistent memory (see tearing.ts). */
export interface TearOutcome {
  /** Whether the command reached a write before the power went (a command that writes nothing loses only its answer). */
  wrote: boolean;
  /** The torn write's effect: not committed ("old"), committed ("new"), or committed in part ("partial", non-atomic cards only). */
  persisted: "old" | "new" | "partial";
  /** Names (never values) of the fields whose persisted value differs from the memory before the command. */
  fields?: string[];
}

/** Where a tear strikes: the command's `write`-th write (0: its first), before that write commits. */
export interface TearPoint {
  write?: number;
  /** Atomic cards only: the tear comes just after the write's commit point (its effect stays) instead of before it. */
  afterCommit?: boolean;
}

/** What a FaultyReader needs to tear: an emulated card that can lose power in the middle of a command. */
export interface Tearable {
  tearDuring(command: Uint8Array, point?: TearPoint): TearOutcome;
}
