import { ReprocessError } from '../../errors.js';
import { relativeDifference, withinTolerance } from './diff.js';

export type BucketJudgement = 'pass' | 'fail' | 'abort';

/**
 * Judge one finished bucket's record counts: 'pass' within tolerance, 'abort' when the relative
 * difference exceeds tolerance × abortFactor (bad enough to stop the replay), 'fail' in between.
 */
export function judgeBucket(oldCount: number, newCount: number, tolerance: number, abortFactor: number): BucketJudgement {
  const diff = relativeDifference(oldCount, newCount);
  if (withinTolerance(diff, tolerance)) return 'pass';
  return diff > tolerance * abortFactor ? 'abort' : 'fail';
}

/**
 * The start (epoch ms) of the bucket holding timestampMs. Buckets are aligned to the Unix epoch,
 * so whole-day buckets start at UTC midnight (and 7-day buckets on Thursdays, as the epoch did).
 */
export function bucketOf(timestampMs: number, bucketMs: number): number {
  if (!Number.isSafeInteger(bucketMs) || bucketMs <= 0) {
    throw new ReprocessError('INTERNAL', `bucket size must be a positive whole number of milliseconds; got ${String(bucketMs)}`);
  }
  if (!Number.isFinite(timestampMs)) {
    throw new ReprocessError('INTERNAL', `cannot bucket the timestamp ${String(timestampMs)}`);
  }
  return Math.floor(timestampMs / bucketMs) * bucketMs;
}
