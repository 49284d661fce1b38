import { CryptoRandom, type Random } from "../../core/index.js";
import { CardOs } from "./card-os.js";
import { PivApplet } from "./piv-applet.js";
import { newPivState, type CardStore, type PivCardOptions, type PivCardState } from "./piv-state.js";
import { stateFromJson, stateToJson, type PivCardJson } from "./state-json.js";
import { YubiKeyExtension } from "./yubikey-extension.js";

/**
 * The emulated PIV card: the card OS with one applet, PIV (SP 800-73-4) plus
 * the YubiKey extensions middleware asks for, selected at power-on.
 * `transmit` never throws: every input gets a status word.
 */
export class PivCard extends CardOs {
  constructor(
    /** The card's secure memory. Exposed for persistence and tests, never for logging. */
    readonly state: PivCardState,
    random: Random = new CryptoRandom(),
    /** Where the memory is kept (a card file, file.ts): written before an answer reports a change. */
    store?: CardStore,
  ) {
    super([new PivApplet(state, random, new YubiKeyExtension(), store)]);
  }

  static create(opts: PivCardOptions): PivCard {
    const random = opts.random ?? new CryptoRandom();
    return new PivCard(newPivState(opts, random), random);
  }

  /** The card file's content (secrets included: the file is the card's secure memory). */
  toJSON(): PivCardJson {
    return stateToJson(this.state);
  }

  static fromJSON(obj: unknown, random?: Random, store?: CardStore): PivCard {
    return new PivCard(stateFromJson(obj), random, store);
  }

  get expires(): Date {
    return new Date(this.state.expires.getTime());
  }

  /** Serial as lower-case hex. */
  get serial(): string {
    return Buffer.from(this.state.serial).toString("hex");
  }
}
