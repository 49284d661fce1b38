import { SW, bytesEqual, concatBytes, encodeTlv } from "../../core/index.js";
import type { Answer } from "./applet.js";
import type { Command } from "./command.js";
import { ALG, SYM_KEY_LENGTH, isSymAlg } from "./crypto.js";
import { isKeySlot, publicKeyObjects } from "./objects.js";
import { MANAGEMENT_KEY_REF, PIN_REF, PUK_REF, type PivContext, type PivExtension } from "./piv-applet.js";
import {
  DEFAULT_MANAGEMENT_KEY,
  DEFAULT_PIN,
  DEFAULT_PUK,
  IDENTITY_OBJECTS,
  padReference,
  serial32,
} from "./piv-state.js";

/**
 * The YubiKey instructions beyond SP 800-73-4 that middleware asks for
 * (yubico-piv-tool, ykman, OpenSC's YubiKey detection): GET METADATA,
 * GET SERIAL, RESET, GET VERSION, SET MANAGEMENT KEY.
 *
 * An extension of the PIV applet rather than a second applet: on a YubiKey
 * these instructions answer under the PIV AID, after SELECT PIV, and act on
 * the PIV applet's own memory and security status (SET MANAGEMENT KEY needs
 * the 9B authentication, RESET wipes PIV's keys). As an applet of its own it
 * would need an AID no middleware selects and a back door into PIV's state.
 */

/** Reported by GET VERSION (00 FD): a YubiKey 5 firmware level without the metadata command. */
export const FIRMWARE_VERSION = Uint8Array.of(5, 2, 7);

const INS = {
  GET_METADATA: 0xf7,
  GET_SERIAL: 0xf8,
  RESET: 0xfb,
  GET_VERSION: 0xfd,
  SET_MANAGEMENT_KEY: 0xff,
} as const;

export class YubiKeyExtension implements PivExtension {
  process(cmd: Command, piv: PivContext): Answer | undefined {
    const { p1, p2 } = cmd;
    switch (cmd.ins) {
      case INS.GET_VERSION:
        return p1 === 0 && p2 === 0 ? FIRMWARE_VERSION : SW.INCORRECT_P1P2;
      case INS.GET_SERIAL:
        return p1 === 0 && p2 === 0 ? serial32(piv.state.serial) : SW.INCORRECT_P1P2;
      case INS.GET_METADATA:
        return metadata(cmd, piv);
      case INS.SET_MANAGEMENT_KEY:
        return setManagementKey(cmd, piv);
      case INS.RESET:
        return factoryReset(cmd, piv);
      default:
        return undefined;
    }
  }
}

/**
 * GET METADATA (00 F7 00 ref): 01 algorithm, 02 policy, 03 origin, 04 public
 * key, 05 default value, 06 retries {total, left}. Lets a host read the PIN
 * counter even while the PIN is verified.
 */
function metadata({ p1, p2 }: Command, piv: PivContext): Answer {
  if (p1 !== 0) return SW.INCORRECT_P1P2;
  const s = piv.state;
  const b = (...v: number[]) => Uint8Array.from(v);
  if (p2 === PIN_REF || p2 === PUK_REF) {
    const isPin = p2 === PIN_REF;
    const value = isPin ? s.pin : s.puk;
    const isDefault = bytesEqual(value, padReference(isPin ? DEFAULT_PIN : DEFAULT_PUK, "PIN"));
    return concatBytes(
      encodeTlv(0x01, b(0xff)),
      encodeTlv(0x02, b(0x00, 0x00)),
      encodeTlv(0x05, b(isDefault ? 1 : 0)),
      encodeTlv(0x06, b(isPin ? s.pinMax : s.pukMax, isPin ? s.pinLeft : s.pukLeft)),
    );
  }
  if (p2 === MANAGEMENT_KEY_REF) {
    const isDefault = s.managementAlg === ALG.TDES && bytesEqual(s.managementKey, DEFAULT_MANAGEMENT_KEY);
    return concatBytes(encodeTlv(0x01, b(s.managementAlg)), encodeTlv(0x02, b(0x00, 0x01)), encodeTlv(0x05, b(isDefault ? 1 : 0)));
  }
  if (!isKeySlot(p2)) return SW.INCORRECT_P1P2;
  const key = s.keys.get(p2);
  if (key === undefined) return SW.REF_DATA_NOT_FOUND;
  const pinPolicy = p2 === 0x9c ? 0x03 : p2 === 0x9e ? 0x01 : 0x02; // always / never / once
  return concatBytes(
    encodeTlv(0x01, b(key.alg)),
    encodeTlv(0x02, b(pinPolicy, 0x01)),
    encodeTlv(0x03, b(0x01)),
    encodeTlv(0x04, publicKeyObjects(key.publicParts())),
  );
}

/** SET MANAGEMENT KEY: 00 FF FF FF|FE { alg 9B len key }. */
function setManagementKey({ p1, p2, data }: Command, piv: PivContext): Answer {
  if (p1 !== 0xff || (p2 !== 0xff && p2 !== 0xfe)) return SW.INCORRECT_P1P2;
  if (!piv.managementAuthenticated) return SW.SECURITY_NOT_SATISFIED;
  if (data.length < 3 || data[1] !== MANAGEMENT_KEY_REF) return SW.WRONG_DATA;
  const alg = data[0];
  if (!isSymAlg(alg) || data[2] !== SYM_KEY_LENGTH[alg] || data.length !== 3 + data[2]) return SW.WRONG_DATA;
  piv.state.managementAlg = alg;
  piv.state.managementKey = Uint8Array.from(data.subarray(3));
  return SW.OK;
}

/** RESET: only once both PIN and PUK are blocked; back to factory values. */
function factoryReset({ p1, p2 }: Command, piv: PivContext): Answer {
  if (p1 !== 0 || p2 !== 0) return SW.INCORRECT_P1P2;
  const s = piv.state;
  if (s.pinLeft !== 0 || s.pukLeft !== 0) return SW.CONDITIONS_NOT_SATISFIED;
  s.pin = padReference(DEFAULT_PIN, "PIN");
  s.puk = padReference(DEFAULT_PUK, "PUK");
  s.pinLeft = s.pinMax;
  s.pukLeft = s.pukMax;
  s.managementAlg = ALG.TDES;
  s.managementKey = Uint8Array.from(DEFAULT_MANAGEMENT_KEY);
  s.keys.clear();
  for (const tag of [...s.objects.keys()]) if (!IDENTITY_OBJECTS.includes(tag)) s.objects.delete(tag);
  piv.resetSession();
  return SW.OK;
}
