/**
 * The comparison's pure core: the aggregates both versions are reduced to, the gate that judges
 * them, per-bucket judgement for the early abort, and the terminal and HTML renderings of the
 * report. No Kafka, Redis or files; the aggregator fills the inputs.
 */
export { bucketOf, judgeBucket, type BucketJudgement } from './bucket.js';
export { formatChange, formatNumber, formatRelDiff, formatShare } from './format.js';
export {
  describeValueDifference,
  evaluateGate,
  relativeDifference,
  withinTolerance,
  type BucketResult,
  type DimensionResult,
  type ExpectationMatch,
  type ExpectationRef,
  type ExpectationUse,
  type GateReport,
  type TotalResult,
  type ValueDifference,
} from './gate.js';
export { escapeHtml, renderHtml, renderTable } from './render.js';
export { NULL_DIMENSION_VALUE, type GateConfig, type GateMeta, type KeyStats, type SideAggregate } from './types.js';
