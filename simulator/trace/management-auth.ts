import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { UsageError, bytesEqual, secretKindOf, decodeTlvs, encodeTlv, findTlv, readTlv, tryDecodeCommand, type Tlv } from "../../core/index.js";

/**
 * The host's side of authentication with the card management key (9B,
 * SP 800-73-4 part 2, appendix A) for a replay: a trace cannot carry what
 * these steps send (the decrypted witness, the encrypted challenge: they
 * prove the key, so the import masked them, and they depend on the card's
 * random anyway), so each is worked out again with the key the user gave
 * against what the card answers now. Small on purpose: the terminal has the
 * full client, but simulator/trace may import only card and reader.
 *
 *  - mutual: 7C{80 00} -> 7C{80 E(W)}; 7C{80 W, 81 C} -> 7C{82 E(C)}
 *  - external: 7C{81 00} -> 7C{81 C}; 7C{82 E(C)} -> 9000
 *  - internal: 7C{81 C, 82 00} -> 7C{82 E(C)}
 */

const BLOCK: Record<number, number> = { 0x00: 8, 0x03: 8, 0x08: 16, 0x0a: 16, 0x0c: 16 };
const KEY_LENGTH: Record<number, number> = { 0x00: 24, 0x03: 24, 0x08: 16, 0x0a: 24, 0x0c: 32 };

/** Whether a command is a GENERAL AUTHENTICATE with the management key: core's masking rule, so what is masked and what is worked out again never disagree. */
export function isManagementAuth(command: Uint8Array): boolean {
  return command.length >= 4 && command[1] === 0x87 && secretKindOf(command) === "management-key";
}

/** Whether `key` has the length algorithm `alg` (P1) needs; an algorithm unknown here is the card's to refuse. */
export function managementKeyFits(alg: number, key: Uint8Array): boolean {
  return KEY_LENGTH[alg] === undefined || KEY_LENGTH[alg] === key.length;
}

export class ManagementAuthHost {
  /** The plaintext witness the card sent (decrypted), for the step that returns it. */
  private witness?: Uint8Array;
  /** The card's challenge (external authentication). */
  private cardChallenge?: Uint8Array;
  /** Our challenge, whose encryption the card must answer. */
  private ourChallenge?: Uint8Array;

  constructor(private readonly key: Uint8Array) {}

  /**
   * The command to send in place of a recorded management-key step: the
   * first steps go as recorded; a step that carries a proof gets one worked
   * out with our key and the card's latest answer, and a fresh challenge.
   */
  rewrite(recorded: Uint8Array): Uint8Array {
    const cmd = tryDecodeCommand(recorded);
    if (cmd === undefined) return recorded;
    const alg = cmd.p1;
    const block = BLOCK[alg];
    if (block === undefined) return recorded;
    // A masked step may have lost its template too (every data byte FF): then
    // what the card last sent says which step it was.
    const items = template(cmd.data) ?? this.inferred(block);
    const w = findTlv(items, 0x80);
    const c = findTlv(items, 0x81);
    const r = findTlv(items, 0x82);
    this.ourChallenge = undefined;
    let data: Uint8Array | undefined;
    if (w !== undefined && w.value.length > 0 && c !== undefined) {
      // mutual, second step: the witness back, and a challenge of ours
      if (this.witness === undefined) return recorded;
      this.ourChallenge = new Uint8Array(randomBytes(block));
      data = encodeTlv(0x7c, [encodeTlv(0x80, this.witness), encodeTlv(0x81, this.ourChallenge)]);
      this.witness = undefined;
    } else if (r !== undefined && r.value.length > 0 && w === undefined && c === undefined) {
      // external, second step: the card's challenge encrypted
      if (this.cardChallenge === undefined) return recorded;
      data = encodeTlv(0x7c, encodeTlv(0x82, this.crypt(alg, this.cardChallenge, true)));
      this.cardChallenge = undefined;
    } else if (c !== undefined && c.value.length > 0 && r !== undefined && r.value.length === 0) {
      // internal: a fresh challenge of ours
      this.ourChallenge = new Uint8Array(randomBytes(block));
      data = encodeTlv(0x7c, [encodeTlv(0x81, this.ourChallenge), encodeTlv(0x82, new Uint8Array(0))]);
    }
    if (data === undefined) return recorded;
    const le = cmd.le === undefined ? [] : [0x00];
    return Uint8Array.from([cmd.cla, cmd.ins, cmd.p1, cmd.p2, data.length, ...data, ...le]);
  }

  /**
   * Takes in the card's answer to the step just sent; returns why it is
   * wrong, when the card failed to prove the key (undefined when it did, or
   * when this step proves nothing).
   */
  observe(sent: Uint8Array, answer: Uint8Array, sw: number): string | undefined {
    const alg = sent[2];
    if (BLOCK[alg] === undefined || sw !== 0x9000) return undefined;
    const items = template(answer);
    if (items === undefined) return undefined;
    const w = findTlv(items, 0x80);
    const c = findTlv(items, 0x81);
    const r = findTlv(items, 0x82);
    if (w !== undefined && w.value.length > 0) this.witness = this.crypt(alg, w.value, false);
    if (c !== undefined && c.value.length > 0 && r === undefined) this.cardChallenge = Uint8Array.from(c.value);
    if (r !== undefined && this.ourChallenge !== undefined) {
      const expected = this.crypt(alg, this.ourChallenge, true);
      this.ourChallenge = undefined;
      if (!bytesEqual(r.value, expected)) return "the card's answer to our challenge is wrong: it does not hold this management key";
    }
    return undefined;
  }

  /** The template the step after the card's last answer carries, in shape only. */
  private inferred(block: number): Tlv[] {
    const item = (tag: number, length: number): Tlv => ({ tag, value: new Uint8Array(length), start: 0, end: 0 });
    if (this.witness !== undefined) return [item(0x80, block), item(0x81, block)];
    if (this.cardChallenge !== undefined) return [item(0x82, block)];
    return [];
  }

  private crypt(alg: number, block: Uint8Array, encrypt: boolean): Uint8Array {
    if (this.key.length !== KEY_LENGTH[alg]) {
      throw new UsageError(`the trace authenticates with a ${KEY_LENGTH[alg]}-byte management key (algorithm ${alg.toString(16).padStart(2, "0")}); --management-key has ${this.key.length} bytes`);
    }
    if (block.length !== BLOCK[alg]) return new Uint8Array(0);
    const name = alg === 0x03 || alg === 0x00 ? "des-ede3" : `aes-${this.key.length * 8}-ecb`;
    const c = encrypt ? createCipheriv(name, this.key, null) : createDecipheriv(name, this.key, null);
    c.setAutoPadding(false);
    return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
  }
}

/** The items of a 7C dynamic authentication template, or undefined. */
function template(data: Uint8Array): Tlv[] | undefined {
  try {
    const outer = readTlv(data, 0);
    if (outer.tag !== 0x7c || outer.end !== data.length) return undefined;
    return decodeTlvs(outer.value);
  } catch {
    return undefined;
  }
}
