import { CryptoRandom, isDeterministic, type Random } from "../../core/index.js";
import { CardKey, isAsymAlg } from "./crypto.js";
import { ATR } from "./atr.js";
import { CardOs } from "./card-os.js";
import type { Command } from "./command.js";
import type { Answer } from "./applet.js";
import { PivApplet, type PivContext, type PivExtension } from "./piv-applet.js";
import { newPivState, type CardStore, type PivCardOptions, type PivCardState } from "./piv-state.js";
import { stateFromJson, stateToJson, type PivCardJson } from "./state-json.js";
import { YubiKeyExtension } from "./yubikey-extension.js";

/**
 * The emulated PIV card: the card OS with one applet, PIV (SP 800-73-4) plus
 * the YubiKey extensions middleware asks for, selected at power-on.
 * `transmit` never throws: every input gets a status word.
 */
export class PivCard extends CardOs {
  /** The card's Random when a seed decides it: keys made by `generateKeys` then follow the seed (as GENERATE's do). */
  private readonly seeded?: Random;

  constructor(
    /** The card's secure memory. Exposed for persistence and tests, never for logging. */
    readonly state: PivCardState,
    random: Random = new CryptoRandom(),
    /** Where the memory is kept (a card file, file.ts): written before an answer reports a change. */
    store?: CardStore,
  ) {
    // A card rebuilt from a trace answers the field card's ATR and firmware version (state-json.ts).
    super([new PivApplet(state, random, state.firmware !== undefined ? new FirmwareOf(new YubiKeyExtension()) : new YubiKeyExtension(), store)], state.atr ?? ATR);
    if (isDeterministic(random)) this.seeded = random;
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

  /**
   * Fresh key pairs made on the card in these key references (reference ->
   * algorithm), replacing any there: how a card rebuilt from a field card's
   * trace gets keys, the field card's private keys being unknowable. Not an
   * instruction a host can send (GENERATE is, with the management key): a
   * card being built, before anyone holds it. With a seeded Random the keys
   * follow the seed, so the same trace and seed give the same card file.
   */
  generateKeys(slots: ReadonlyMap<number, number>): void {
    for (const [slot, alg] of slots) {
      if (!isAsymAlg(alg)) throw new RangeError(`algorithm ${alg} is not RSA 2048, P-256 or P-384`);
      this.state.keys.set(slot, CardKey.generate(alg, this.seeded));
    }
  }

  get expires(): Date {
    return new Date(this.state.expires.getTime());
  }

  /** Serial as lower-case hex. */
  get serial(): string {
    return Buffer.from(this.state.serial).toString("hex");
  }
}

const INS_GET_VERSION = 0xfd;

/** The YubiKey extension answering GET VERSION with the version the card's memory keeps. */
class FirmwareOf implements PivExtension {
  constructor(private readonly inner: PivExtension) {}
  process(cmd: Command, piv: PivContext): Answer | undefined {
    const firmware = piv.state.firmware;
    if (cmd.ins === INS_GET_VERSION && cmd.p1 === 0 && cmd.p2 === 0 && firmware !== undefined) return Uint8Array.from(firmware);
    return this.inner.process(cmd, piv);
  }
}
