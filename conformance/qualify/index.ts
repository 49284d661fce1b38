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
export { summarise, percentile, type LatencySummary } from "./stats.js";
export { qualificationJson, qualificationJunit, qualificationHtml, writeQualificationReports } from "./report.js";
