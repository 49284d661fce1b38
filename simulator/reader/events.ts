/** Events the fault-injecting reader adds to the run log (declaration merging into core's EventMap). */
declare module "../../core/events.js" {
  interface EventMap {
    /**
     * A fault FaultyReader injected: the evidence a step's failure points to.
     * `exchange` counts the reader's transport exchanges from 0, `ins` is the
     * command's instruction byte (hex), `detail` says what was done (never a secret).
     */
    "apdu.fault": {
      reader: string;
      exchange: number;
      kind: import("./fault.js").FaultKind;
      ins: string;
      detail: string;
    };
  }
}
export {};
