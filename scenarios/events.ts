/** Events the scenario engine adds to the run log (declaration merging into core's EventMap). */
declare module "../core/events.js" {
  interface EventMap {
    /** A card's lifecycle moved: what the HTML report's per-card timeline is drawn from. */
    "card.lifecycle": {
      scenario: string;
      card: string;
      state: "issued" | "renewed" | "lost" | "found" | "revoked" | "blocked" | "unblocked" | "expired";
      detail?: string;
    };
  }
}
export {};
