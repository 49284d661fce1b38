export { parseAtr, parseHistorical, describeAtr, type ParsedAtr, type InterfaceBytes, type HistoricalInfo } from "./atr.js";
export {
  qualifyReader,
  DEFAULT_THRESHOLDS,
  type Thresholds,
  type CardActuator,
  type QualifyOptions,
  type CriterionResult,
  type QualificationReport,
} from "./battery.js";
// Its reports (JSON, JUnit, HTML) are built from the run log by reports/ (writeQualificationReports).
