import type { ExpectedDifference } from '../../core/expected.js';

/** The literal that stands for a null or missing dimension value. */
export const NULL_DIMENSION_VALUE = '(null)';

/** One version's aggregates over the window (exact counts; measure sums as numbers). */
export interface SideAggregate {
  count: number;
  /** bucket start (epoch ms, as a decimal string key) → record count */
  buckets: Record<string, number>;
  /** field → number of records where it is null or missing */
  nulls: Record<string, number>;
  /** dimension → value (string; null/missing values as the literal "(null)") → { count, sums: measure → sum } */
  dimensions: Record<string, Record<string, { count: number; sums: Record<string, number> }>>;
  /** measure → total sum */
  sums: Record<string, number>;
}

/** Per-key record counts in both versions, summarised (the aggregator computes these from its key tables). */
export interface KeyStats {
  distinctLive: number;
  distinctCandidate: number;
  onlyInLive: number;
  onlyInCandidate: number;
  inBoth: number;
  /** keys present in both whose record counts differ */
  countMismatch: number;
  /** histogram of (candidate - live) records per key for keys in either version, bounded to e.g. -5..+5 with "<=-6"/">=6" tails */
  deltaHistogram: Record<string, number>;
  /** a few example keys for each category, at most 10 each */
  examples: { onlyInLive: string[]; onlyInCandidate: string[]; countMismatch: string[] };
}

/** The gate's settings: ValidateSpec's rule fields with the expected-differences items resolved. */
export interface GateConfig {
  /** A difference passes when its relative difference is below this (0.005 = 0.5%); 0 means "exactly equal". */
  tolerance: number;
  /** Share of a dimension's values (0..1) that must pass for the dimension to pass. */
  quorum: number;
  dimensions: string[];
  measures: string[];
  /** Fields whose null rate (nulls / count) is compared in the totals. */
  nulls: string[];
  expected: ExpectedDifference[];
  bucketMs: number;
  /** A bucket whose relative difference exceeds tolerance × abortFactor is judged "abort". */
  abortFactor: number;
}

/** What the report says about the comparison itself, supplied by the caller. */
export interface GateMeta {
  dataset: string;
  liveVersion: number;
  candidateVersion: number;
  /** The compared window as the caller describes it (ISO timestamps, or e.g. "beginning"/"end"). */
  window: { from: string; to: string };
  /** ISO timestamp of the report. */
  generatedAt: string;
}
