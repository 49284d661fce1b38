export type { Card } from "./card.js";
export { ATR } from "./atr.js";
export { CardOs } from "./card-os.js";
export { CardStatusError, type Answer, type Applet } from "./applet.js";
export type { Command } from "./command.js";
export { PivCard } from "./piv-card.js";
// The layers PivCard is built from, so a card of PIV and another applet can be put together outside this folder.
export { PivApplet, SW_MEMORY_FAILURE, type PivContext, type PivExtension } from "./piv-applet.js";
export { FIRMWARE_VERSION, YubiKeyExtension } from "./yubikey-extension.js";
export {
  newPivState,
  DEFAULT_PIN,
  DEFAULT_PUK,
  DEFAULT_MANAGEMENT_KEY,
  MANAGEMENT_ALG_ID,
  MAX_OBJECT_SIZE,
  type ManagementAlg,
  type CardStore,
  type PivCardOptions,
  type PivCardState,
} from "./piv-state.js";
export type { PivCardJson } from "./state-json.js";
export { CardFile, CardFileBusyError, lockCardFile, saveCard, loadCard, type CardFileOptions, type FileLock } from "./file.js";
export { ALG, type AsymAlg, type SymAlg } from "./crypto.js";
export { PIV_AID, TAG, certTagForSlot, isKeySlot } from "./objects.js";
export { encodeFascn, type FascnFields } from "./fascn.js";
export { TearingCard, type TearingModel, type TearOutcome, type TearPoint, type Tearable } from "./tearing.js";
