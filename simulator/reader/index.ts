/** The `Reader` seam and everything that fits it: memory, vpcd bridge, PC/SC, and the fault and trace wrappers. */
export type { Reader } from "./reader.js";
export { MemoryReader, ReaderError, type MemoryReaderOptions } from "./memory.js";
export { TracedReader, type TracedReaderOptions } from "./traced.js";
export {
  FaultyReader,
  FaultPlan,
  instructionName,
  FAULT_KINDS,
  type Fault,
  type FaultKind,
  type FaultRule,
  type InjectedFault,
  type FaultyReaderOptions,
} from "./fault.js";
export {
  loadFaultProfile,
  parseFaultProfile,
  statusWordsAsWritten,
  faultProfileFrom,
  applyFaults,
  faultPlanOf,
  faultRandom,
  type FaultProfile,
  type FaultProfileFail,
  type ApplyFaultsOptions,
} from "./fault-profile.js";
export { openReader, type OpenedReader, type OpenReaderOptions } from "./open.js";
export { waitPresence } from "./presence.js";
export { PcscReader, type PcscProtocol, type Disposition, type PcscReaderOptions } from "./pcsc.js";
export { PcscError, listPcscReaders, keepPcscContextUntilExit } from "./pcsc-context.js";
export {
  VpcdBridge,
  VpcdError,
  VPCD_DEFAULT_HOST,
  VPCD_DEFAULT_PORT,
  parseVpcdEndpoint,
  formatVpcdEndpoint,
  vpcdEndpointAt,
  FrameDecoder,
  encodeFrame,
  type VpcdBridgeOptions,
  type VpcdStats,
  type VpcdEndpoint,
  type VpcdTcpEndpoint,
  type VpcdUnixEndpoint,
} from "./vpcd.js";
export { VPCD_READERS, openVpcdCardSlot, makeVpcdSlotFactory, type VpcdCardSlot, type VpcdSlotOptions } from "./vpcd-slot.js";
export { RelayCard, CardWithdrawn, type RelayCardOptions, type BridgedCard, type VpcdPowerEvent } from "./relay-card.js";
export { FaultyCard, type FaultyCardOptions, type InjectedCardFault } from "./faulty-card.js";
