import type { ExpectedDifference } from '../../core/expected.js';
import { judgeBucket, type BucketJudgement } from './bucket.js';
import { relativeDifference, withinTolerance } from './diff.js';
import { formatChange, formatNumber, formatRelDiff, formatShare } from './format.js';
import type { GateConfig, GateMeta, KeyStats, SideAggregate } from './types.js';

export { relativeDifference, withinTolerance } from './diff.js';

/**
 * The gate's verdict, in a stable JSON shape (`schema: 1`; fields are only ever added).
 *
 * Relative differences are |new - old| / |old|, unsigned. An infinite one (old 0 and new not,
 * or a dimension value present in one version only) is written as `relDiff: null`, because JSON
 * has no Infinity; `onlyIn` then says whether the value exists only in 'live' or only in
 * 'candidate' (null when it exists in both and the old number was 0).
 *
 * Null-rate metrics are named "nulls.<field>"; their old/new are rates (nulls / count, 0..1)
 * and `nulls` holds the null counts behind them.
 */
export interface GateReport {
  schema: 1;
  /** All totals pass (or are explained) and every dimension meets the quorum. */
  passed: boolean;
  dataset: string;
  liveVersion: number;
  candidateVersion: number;
  window: { from: string; to: string };
  generatedAt: string;
  tolerance: number;
  quorum: number;
  bucketMs: number;
  /** "count", then each measure's sum, then each null rate. */
  totals: TotalResult[];
  /** One per configured dimension, in configuration order. */
  dimensions: DimensionResult[];
  keys: KeyStats | null;
  /** Record counts per time bucket, oldest first; informational (the early abort uses the same judgement). */
  buckets: BucketResult[];
  expectations: { used: ExpectationUse[]; unused: ExpectationRef[] };
  /** One sentence per failing total and per dimension below quorum; empty when passed. */
  failures: string[];
}

/** An expectation as the report shows it next to a difference. */
export interface ExpectationMatch {
  reason: string;
  max: number | null;
  /** Line of the item in the expected-differences file. */
  line: number;
  /** True when the difference is larger than `max`: the expectation does not explain it and it fails. */
  exceeded: boolean;
}

export interface TotalResult {
  metric: string;
  old: number;
  new: number;
  relDiff: number | null;
  /** Within tolerance, or explained by an expectation. */
  passed: boolean;
  /** The expectation matched to a difference beyond tolerance; null when none matched (or none was needed). */
  expected: ExpectationMatch | null;
  /** For "nulls.<field>": the null counts behind the rates; otherwise null. */
  nulls: { old: number; new: number } | null;
}

/** One metric of one dimension value. */
export interface ValueDifference {
  value: string;
  metric: string;
  old: number;
  new: number;
  relDiff: number | null;
  onlyIn: 'live' | 'candidate' | null;
  passed: boolean;
  expected: ExpectationMatch | null;
}

export interface DimensionResult {
  dimension: string;
  /** Distinct values in either version. */
  values: number;
  /** Values whose count and every measure are within tolerance or explained. */
  passingValues: number;
  /** passingValues / values (1 when there are no values). */
  passingShare: number;
  passed: boolean;
  /** Every difference beyond tolerance, explained or not, largest first. */
  failing: ValueDifference[];
  /** The 10 largest non-zero differences, within tolerance or not, largest first. */
  worst: ValueDifference[];
}

export interface BucketResult {
  /** ISO timestamp of the bucket's start. */
  start: string;
  startMs: number;
  old: number;
  new: number;
  relDiff: number | null;
  judgement: BucketJudgement;
}

export interface ExpectationRef {
  dimension: string;
  value: string | null;
  metric: string;
  reason: string;
  max: number | null;
  line: number;
}

/** An expectation that matched at least one difference beyond tolerance. */
export interface ExpectationUse extends ExpectationRef {
  /** How many differences it explained. */
  covered: number;
  /** The dimension values it explained (for "total": ["total"]). */
  values: string[];
  /** Differences it matched but that were larger than its max; these still fail. */
  exceeded: { value: string; relDiff: number | null }[];
}

const WORST = 10;
const NAMED_IN_FAILURE = 10;
/** 19/20 must meet a quorum of 0.95 even though the float division may land just below it. */
const QUORUM_EPSILON = 1e-9;
const TOTAL = 'total';

interface Judged {
  passed: boolean;
  expected: ExpectationMatch | null;
}

/** Tracks which expectations explained or failed to explain which differences. */
class Ledger {
  private readonly uses = new Map<ExpectedDifference, { values: string[]; exceeded: { value: string; relDiff: number | null }[] }>();

  constructor(private readonly items: readonly ExpectedDifference[]) {}

  /** Judge one difference: within tolerance, explained by an expectation, or failing. */
  judge(dimension: string, value: string | null, metric: string, relDiff: number, tolerance: number): Judged {
    if (withinTolerance(relDiff, tolerance)) return { passed: true, expected: null };
    const explains = (e: ExpectedDifference): boolean => e.max === null || relDiff <= e.max;
    // Prefer an expectation that explains the difference; among equals, the one naming the value.
    const matches = this.items
      .filter((e) => e.dimension === dimension && e.metric === metric && (e.value === null || e.value === value))
      .sort((a, b) => Number(explains(b)) - Number(explains(a)) || Number(b.value !== null) - Number(a.value !== null));
    const pick = matches[0];
    if (pick === undefined) return { passed: false, expected: null };
    const ok = explains(pick);
    const use = this.uses.get(pick) ?? { values: [], exceeded: [] };
    this.uses.set(pick, use);
    const label = value ?? TOTAL;
    if (ok) use.values.push(label);
    else use.exceeded.push({ value: label, relDiff: jsonDiff(relDiff) });
    return { passed: ok, expected: { reason: pick.reason, max: pick.max, line: pick.line, exceeded: !ok } };
  }

  report(): GateReport['expectations'] {
    const used: ExpectationUse[] = [];
    const unused: ExpectationRef[] = [];
    for (const e of this.items) {
      const use = this.uses.get(e);
      if (use === undefined) unused.push(ref(e));
      else used.push({ ...ref(e), covered: use.values.length, values: use.values, exceeded: use.exceeded });
    }
    return { used, unused };
  }
}

function ref(e: ExpectedDifference): ExpectationRef {
  return { dimension: e.dimension, value: e.value, metric: e.metric, reason: e.reason, max: e.max, line: e.line };
}

/** JSON has no Infinity: an infinite relative difference is written as null. */
function jsonDiff(relDiff: number): number | null {
  return Number.isFinite(relDiff) ? relDiff : null;
}

/** Largest first; null (infinite) above everything. */
function byRelDiffDesc(a: { relDiff: number | null }, b: { relDiff: number | null }): number {
  const x = a.relDiff ?? Infinity;
  const y = b.relDiff ?? Infinity;
  return x === y ? 0 : x > y ? -1 : 1;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Apply the gate to both versions' aggregates. For every dimension, at least `quorum` of its
 * values must differ by less than `tolerance` on count and on every measure; the totals (count,
 * each measure's sum, each null rate) must differ by less than `tolerance`. A difference matched
 * by an expectation (within its max) passes; a value present in one version only differs by
 * Infinity on every metric, which only an expectation without max can explain.
 */
export function evaluateGate(
  live: SideAggregate,
  candidate: SideAggregate,
  keys: KeyStats | null,
  config: GateConfig,
  meta: GateMeta,
): GateReport {
  const ledger = new Ledger(config.expected);
  const failures: string[] = [];

  const totals: TotalResult[] = [];
  const total = (metric: string, oldV: number, newV: number, relDiff: number, nulls: TotalResult['nulls']): void => {
    const judged = ledger.judge(TOTAL, null, metric, relDiff, config.tolerance);
    const row: TotalResult = { metric, old: oldV, new: newV, relDiff: jsonDiff(relDiff), ...judged, nulls };
    totals.push(row);
    if (!row.passed) failures.push(describeTotal(row, config.tolerance));
  };
  total('count', live.count, candidate.count, relativeDifference(live.count, candidate.count), null);
  for (const m of config.measures) {
    const o = live.sums[m] ?? 0;
    const n = candidate.sums[m] ?? 0;
    total(m, o, n, relativeDifference(o, n), null);
  }
  for (const f of config.nulls) {
    const nulls = { old: live.nulls[f] ?? 0, new: candidate.nulls[f] ?? 0 };
    const oldRate = rate(nulls.old, live.count);
    const newRate = rate(nulls.new, candidate.count);
    total(`nulls.${f}`, oldRate, newRate, relativeDifference(oldRate, newRate), nulls);
  }

  const dimensions = config.dimensions.map((d) => {
    const result = judgeDimension(d, live.dimensions[d] ?? {}, candidate.dimensions[d] ?? {}, config, ledger);
    if (!result.passed) failures.push(describeDimension(result, config));
    return result;
  });

  const bucketStarts = [...new Set([...Object.keys(live.buckets), ...Object.keys(candidate.buckets)])]
    .map((k) => ({ key: k, ms: Number(k) }))
    .sort((a, b) => a.ms - b.ms || compareStrings(a.key, b.key));
  const buckets: BucketResult[] = bucketStarts.map(({ key, ms }) => {
    const o = live.buckets[key] ?? 0;
    const n = candidate.buckets[key] ?? 0;
    return {
      start: Number.isFinite(ms) ? new Date(ms).toISOString() : key,
      startMs: ms,
      old: o,
      new: n,
      relDiff: jsonDiff(relativeDifference(o, n)),
      judgement: judgeBucket(o, n, config.tolerance, config.abortFactor),
    };
  });

  return {
    schema: 1,
    passed: totals.every((t) => t.passed) && dimensions.every((d) => d.passed),
    dataset: meta.dataset,
    liveVersion: meta.liveVersion,
    candidateVersion: meta.candidateVersion,
    window: { from: meta.window.from, to: meta.window.to },
    generatedAt: meta.generatedAt,
    tolerance: config.tolerance,
    quorum: config.quorum,
    bucketMs: config.bucketMs,
    totals,
    dimensions,
    keys,
    buckets,
    expectations: ledger.report(),
    failures,
  };
}

function rate(nulls: number, count: number): number {
  return count === 0 ? 0 : nulls / count;
}

function judgeDimension(
  dimension: string,
  live: SideAggregate['dimensions'][string],
  candidate: SideAggregate['dimensions'][string],
  config: GateConfig,
  ledger: Ledger,
): DimensionResult {
  const values = [...new Set([...Object.keys(live), ...Object.keys(candidate)])].sort(compareStrings);
  const rows: ValueDifference[] = [];
  let passingValues = 0;
  for (const value of values) {
    const o = live[value];
    const n = candidate[value];
    const onlyIn = o === undefined ? 'candidate' : n === undefined ? 'live' : null;
    const metrics: [string, number, number][] = [
      ['count', o?.count ?? 0, n?.count ?? 0],
      ...config.measures.map((m): [string, number, number] => [m, o?.sums[m] ?? 0, n?.sums[m] ?? 0]),
    ];
    let valuePasses = true;
    for (const [metric, oldV, newV] of metrics) {
      const relDiff = onlyIn === null ? relativeDifference(oldV, newV) : Infinity;
      const judged = ledger.judge(dimension, value, metric, relDiff, config.tolerance);
      valuePasses &&= judged.passed;
      rows.push({ value, metric, old: oldV, new: newV, relDiff: jsonDiff(relDiff), onlyIn, ...judged });
    }
    if (valuePasses) passingValues += 1;
  }
  const passingShare = values.length === 0 ? 1 : passingValues / values.length;
  const sorted = [...rows].sort((a, b) => byRelDiffDesc(a, b) || compareStrings(a.value, b.value) || compareStrings(a.metric, b.metric));
  return {
    dimension,
    values: values.length,
    passingValues,
    passingShare,
    passed: passingShare >= config.quorum - QUORUM_EPSILON,
    failing: sorted.filter((r) => !r.passed || r.expected !== null),
    worst: sorted.filter((r) => r.relDiff !== 0).slice(0, WORST),
  };
}

function metricLabel(metric: string): string {
  return metric.startsWith('nulls.') ? `null rate of ${metric.slice('nulls.'.length)}` : metric;
}

function exceededNote(expected: ExpectationMatch | null): string {
  if (expected === null || !expected.exceeded) return '';
  return `; expected only up to ${formatRelDiff(expected.max)} (line ${String(expected.line)}: ${expected.reason}), so the expectation's max was exceeded`;
}

function describeTotal(row: TotalResult, tolerance: number): string {
  const isRate = row.nulls !== null;
  const show = (v: number): string => (isRate ? formatShare(v) : formatNumber(v));
  const counts = row.nulls === null ? '' : ` (${formatNumber(row.nulls.old)} and ${formatNumber(row.nulls.new)} null records)`;
  return (
    `total ${metricLabel(row.metric)}: live ${show(row.old)}, candidate ${show(row.new)}${counts}, ` +
    `a change of ${formatChange(row.old, row.new)} (relative difference ${formatRelDiff(row.relDiff)}, tolerance ${formatRelDiff(tolerance)})` +
    exceededNote(row.expected)
  );
}

/** "BR revenue: live 1,000,000, candidate 1,013,000 (+1.30%)" */
export function describeValueDifference(row: ValueDifference): string {
  const change =
    row.onlyIn === null ? formatChange(row.old, row.new) : `only in ${row.onlyIn === 'live' ? 'the live version' : 'the candidate'}`;
  return `${row.value} ${row.metric}: live ${formatNumber(row.old)}, candidate ${formatNumber(row.new)} (${change})${exceededNote(row.expected)}`;
}

function describeDimension(result: DimensionResult, config: GateConfig): string {
  const unexplained = result.failing.filter((r) => !r.passed);
  const named = unexplained.slice(0, NAMED_IN_FAILURE).map(describeValueDifference);
  const more = unexplained.length > named.length ? `; and ${String(unexplained.length - named.length)} more` : '';
  return (
    `${result.dimension}: ${String(result.passingValues)} of ${String(result.values)} values (${formatShare(result.passingShare)}) ` +
    `differ by less than ${formatRelDiff(config.tolerance)}, below the quorum of ${formatShare(config.quorum)}; ` +
    `failing: ${named.join('; ')}${more}`
  );
}
