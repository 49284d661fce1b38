export { parseAtr, parseHistorical, describeAtr, type ParsedAtr, type InterfaceBytes, type HistoricalInfo } from "./atr.js";
export { qualifyReader, DEFAULT_THRESHOLDS, type Thresholds, type CardActuator, type QualifyOptions, type Qualification } from "./battery.js";
// The qualify.* events it sends are declared in events.ts (merged into core's EventMap); its reports
// (JSON, JUnit, HTML) are built from the run log by reports/ (writeQualificationReports).
