import { ReprocessError } from '../errors.js';
import { compareOffsets, maxOffset, minOffset, offsetDistance, type Offset } from './offsets.js';

/** The replay window of a job: half-open [from, to). Offsets are canonical decimal strings. */
export type JobWindow =
  | { kind: 'time'; fromMs: number; toMs: number }
  | { kind: 'offsets'; from: Record<number, Offset>; to: Record<number, Offset> };

/** One partition's retained offsets: [low, high), high being the next offset to be written. */
export interface Watermarks {
  partition: number;
  low: Offset;
  high: Offset;
}

/**
 * A time window's inputs for one partition: the results of offsets-for-times lookups, i.e. the
 * first offset whose timestamp is ≥ the instant. Kafka answers "none" (null or "-1") when no
 * record is that late; then the answer is the high watermark. "-1" (Kafka's own "none") is
 * accepted as null.
 */
export interface TimeLookup extends Watermarks {
  fromOffset: Offset | null;
  toOffset: Offset | null;
}

/** The work for one partition: offsets [start, end). `records` counts offsets, not live records (compaction, markers). */
export interface PartitionRange {
  partition: number;
  start: Offset;
  end: Offset;
  records: number;
}

/**
 * Time window: start = lookup(from) ?? high, end = lookup(to) ?? high, clamped to the retained
 * range. Every partition is kept; one with no records in the window gets start == end
 * (records 0) and the replay finishes it at once instead of waiting for data.
 */
export function resolveTimeWindow(lookups: readonly TimeLookup[]): PartitionRange[] {
  return sortByPartition(lookups).map((p) => {
    const start = clamp(answer(p.fromOffset) ?? p.high, p.low, p.high);
    const end = clamp(answer(p.toOffset) ?? p.high, start, p.high);
    return { partition: p.partition, start, end, records: offsetDistance(start, end) };
  });
}

/**
 * Offset window. The maps say which partitions to replay:
 *   - a partition in `from` and `to` replays [from[p], to[p]);
 *   - in `from` only: up to the high watermark at plan time (later appends are not replayed);
 *   - in `to` only: from the low watermark;
 *   - in neither: skipped.
 * Errors (all collected into one WINDOW_INVALID): from[p] > to[p]; a partition the topic lacks;
 * a start below the low watermark (those records were deleted) or an end above the high
 * watermark (those records do not exist yet).
 */
export function resolveOffsetWindow(
  window: { from: Record<number, Offset>; to: Record<number, Offset> },
  watermarks: readonly Watermarks[],
  topic = 'the source topic',
): PartitionRange[] {
  const byPartition = new Map(watermarks.map((w) => [w.partition, w]));
  const wanted = [...new Set([...Object.keys(window.from), ...Object.keys(window.to)].map(Number))].sort((a, b) => a - b);
  const problems: string[] = [];
  const ranges: PartitionRange[] = [];
  for (const partition of wanted) {
    const w = byPartition.get(partition);
    if (!w) {
      const have = watermarks.length;
      problems.push(`partition ${String(partition)}: ${topic} has no such partition (it has ${String(have)}, numbered 0..${String(have - 1)}); remove it from source.from/source.to`);
      continue;
    }
    const start = window.from[partition] ?? w.low;
    const end = window.to[partition] ?? w.high;
    const retained = `retained offsets are [${w.low}, ${w.high})`;
    const p = `partition ${String(partition)}`;
    if (compareOffsets(start, w.low) < 0) {
      problems.push(`${p}: from offset ${start} was already deleted (${retained}); start at ${w.low} or later, or restore the data first`);
    } else if (compareOffsets(end, w.high) > 0) {
      problems.push(`${p}: to offset ${end} is past the end of the partition (${retained}); end at ${w.high} or earlier`);
    } else if (compareOffsets(start, end) > 0) {
      problems.push(
        window.to[partition] === undefined
          ? `${p}: from offset ${start} is past the end of the partition (${retained}); start at ${w.high} or earlier`
          : `${p}: from offset ${start} is after to offset ${end}; swap them or fix the map`,
      );
    } else {
      ranges.push({ partition, start, end, records: offsetDistance(start, end) });
    }
  }
  if (problems.length > 0) {
    throw new ReprocessError('WINDOW_INVALID', `the offset window does not fit ${topic}:\n  ${problems.join('\n  ')}`, {
      hint: 'Run `plan` to see each partition\'s retained range, then adjust source.from/source.to (or --from/--to).',
      context: { topic },
    });
  }
  return ranges;
}

export interface PlanRate {
  recordsPerSec: number | null;
  bytesPerSec: number | null;
}

export interface PlanSummary {
  partitions: number;
  /** Partitions with at least one offset to replay. */
  activePartitions: number;
  records: number;
  estimatedBytes: number;
  /** At the configured rate (the slower of the two limits); null when unthrottled. */
  estimatedSeconds: number | null;
}

/** Totals for `plan`. Burst is ignored: it shifts the finish by at most the burst window. */
export function planSummary(ranges: readonly PartitionRange[], avgRecordBytes: number, rate?: PlanRate | null): PlanSummary {
  const records = ranges.reduce((sum, r) => sum + r.records, 0);
  const estimatedBytes = Math.round(records * Math.max(0, avgRecordBytes));
  const limits: number[] = [];
  if (rate?.recordsPerSec) limits.push(records / rate.recordsPerSec);
  if (rate?.bytesPerSec) limits.push(estimatedBytes / rate.bytesPerSec);
  return {
    partitions: ranges.length,
    activePartitions: ranges.filter((r) => r.records > 0).length,
    records,
    estimatedBytes,
    estimatedSeconds: limits.length > 0 ? Math.max(...limits) : null,
  };
}

function answer(offset: Offset | null): Offset | null {
  return offset === null || offset === '-1' ? null : offset;
}

function clamp(value: Offset, low: Offset, high: Offset): Offset {
  return minOffset(maxOffset(value, low), high);
}

function sortByPartition<T extends { partition: number }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.partition - b.partition);
}
