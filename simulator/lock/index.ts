/** One holder at a time for a file: the lock the CA's data directory and card files share. */
export { holdExclusive, holderPid, type ExclusiveLock, type LockBusy } from "./exclusive-lock.js";
