/**
 * The page's one doorway to core/ and reports/, through their browser faces
 * (browser.ts: no node: module): the reports' models, pure functions of
 * events, give the dashboard the very verdicts and words the reports give.
 */
export { isRecord, isSecretDataIns, LOAD_METRICS, percentile, swMeaning, tryDecodeCommand, type AnyEvent } from "../../core/browser.js";
export {
  buildReport,
  failureLine,
  INS_NAMES,
  buildCertifyReport,
  CLASS_ORDER,
  CLASS_LABEL,
  countsText,
  provenanceFacts,
  resultLabel,
  rowText,
  verdictText,
  verdictTone,
  buildQualificationReport,
  type RunReport,
  type StepReport,
  type CertifyReport,
  type CheckRow,
  type QualificationReport,
} from "../../reports/browser.js";
