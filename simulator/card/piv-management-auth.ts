import { SW, bytesEqual, encodeTlv, type Random, type Tlv } from "../../core/index.js";
import type { Answer } from "./applet.js";
import { encryptBlock, isSymAlg, symBlockSize } from "./crypto.js";
import type { PivCardState } from "./piv-state.js";

/**
 * Authentication with the card management key (9B), SP 800-73-4 part 2,
 * appendix A. Its outcome is the security status PUT DATA, GENERATE and
 * YubiKey's SET MANAGEMENT KEY ask for; it lasts until the session ends or a
 * new authentication starts.
 *  - mutual: 7C{80 00} -> 7C{80 E(W)}; 7C{80 W, 81 C} -> 7C{82 E(C)}
 *  - external: 7C{81 00} -> 7C{81 C}; 7C{82 E(C)} -> 9000
 *  - internal (host checks the card): 7C{81 C, 82 00} -> 7C{82 E(C)}
 */
export class ManagementAuth {
  authenticated = false;
  private witness?: Uint8Array;
  private challenge?: Uint8Array;

  constructor(
    private readonly state: PivCardState,
    private readonly random: Random,
  ) {}

  reset(): void {
    this.authenticated = false;
    this.witness = undefined;
    this.challenge = undefined;
  }

  /** One GENERAL AUTHENTICATE step on 9B with algorithm `alg` (P1) and the 7C template's items. */
  step(alg: number, witness: Tlv | undefined, challenge: Tlv | undefined, response: Tlv | undefined): Answer {
    const s = this.state;
    if (!isSymAlg(alg) || alg !== s.managementAlg) return SW.INCORRECT_P1P2;
    const block = symBlockSize(alg);
    const enc = (b: Uint8Array) => encryptBlock(alg, s.managementKey, b);
    const reply = (tag: number, v: Uint8Array) => encodeTlv(0x7c, encodeTlv(tag, v));

    if (witness !== undefined && witness.value.length === 0 && challenge === undefined && response === undefined) {
      this.authenticated = false;
      this.challenge = undefined;
      this.witness = this.random.bytes(block);
      return reply(0x80, enc(this.witness));
    }
    if (witness !== undefined && challenge !== undefined && challenge.value.length > 0) {
      const expected = this.witness;
      this.witness = undefined;
      if (expected === undefined) return SW.CONDITIONS_NOT_SATISFIED;
      if (challenge.value.length !== block || (response !== undefined && response.value.length !== 0)) {
        return SW.WRONG_DATA;
      }
      if (!bytesEqual(witness.value, expected)) return SW.SECURITY_NOT_SATISFIED;
      this.authenticated = true;
      return reply(0x82, enc(challenge.value));
    }
    if (witness !== undefined) return SW.WRONG_DATA;
    if (challenge !== undefined && challenge.value.length === 0 && response === undefined) {
      this.authenticated = false;
      this.witness = undefined;
      this.challenge = this.random.bytes(block);
      return reply(0x81, this.challenge);
    }
    if (challenge === undefined && response !== undefined && response.value.length > 0) {
      const expected = this.challenge;
      this.challenge = undefined;
      if (expected === undefined) return SW.CONDITIONS_NOT_SATISFIED;
      if (response.value.length !== block) return SW.WRONG_DATA;
      if (!bytesEqual(response.value, enc(expected))) return SW.SECURITY_NOT_SATISFIED;
      this.authenticated = true;
      return SW.OK;
    }
    if (challenge !== undefined && challenge.value.length === block && response?.value.length === 0) {
      return reply(0x82, enc(challenge.value));
    }
    return SW.WRONG_DATA;
  }
}
