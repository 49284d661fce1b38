export type { Reader } from "./reader.js";
export { MemoryReader, ReaderError, emitExchange, type MemoryReaderOptions } from "./memory.js";
export { TracingReader, type TraceEntry } from "./trace.js";
