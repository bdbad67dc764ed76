import type { Redis } from 'ioredis';
import { keys } from '../redis/keys.js';
import { scripts } from '../redis/scripts.js';
import type { Logger } from '../log.js';
import { sleep } from '../util/sleep.js';
import { LocalThrottle, type Throttle } from './throttle.js';

export interface RedisThrottleOptions {
  redis: Redis;
  runId: string;
  recordsPerSec: number | null;
  bytesPerSec: number | null;
  burstMs: number;
  /** How many workers share the run (for the fallback share). */
  workers: () => number;
  logger?: Logger;
  /** Share of this worker's part of the rate it keeps while Redis is unreachable. */
  fallbackFraction?: number;
  redisTimeoutMs?: number;
  /** How long an answer of "no limit" holds before Redis is asked again (default UNLIMITED_RECHECK_MS). */
  unlimitedRecheckMs?: number;
}

/** While Redis is away, each worker runs at this fraction of its share of the run's rate. */
export const FALLBACK_FRACTION = 0.5;

/**
 * While the run has no limit, Redis is asked again at most this often (not for every chunk: a
 * call per chunk was measurable on an unthrottled replay); a limit set meanwhile is seen within it.
 */
export const UNLIMITED_RECHECK_MS = 250;

/**
 * The run's token bucket in Redis, shared by every worker: one atomic Lua call reserves capacity
 * against Redis's clock, and the caller sleeps for the time the script says. Work is reserved in
 * pieces of about a tenth of a second, so a rate change (`reprocess throttle`) or an adaptive
 * back-off reaches every worker within a second. If Redis stops answering, the worker falls back to
 * a local bucket at FALLBACK_FRACTION of its share (never faster) and rejoins when Redis answers.
 */
export class RedisThrottle implements Throttle {
  private effectiveRecords: number | null;
  private effectiveBytes: number | null;
  private fallback: LocalThrottle | null = null;
  private retryRedisAt = 0;
  /** When Redis last answered that the run has no limit (0: it has one, or has not answered). */
  private unlimitedSince = 0;
  private readonly fraction: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: RedisThrottleOptions) {
    this.effectiveRecords = o.recordsPerSec;
    this.effectiveBytes = o.bytesPerSec;
    this.fraction = o.fallbackFraction ?? FALLBACK_FRACTION;
    this.timeoutMs = o.redisTimeoutMs ?? 1_000;
  }

  currentLimit(): number | null {
    const r = this.fallback ? this.fallback.currentLimit() : this.effectiveRecords;
    return r === null || r <= 0 ? null : r;
  }

  /** True while the worker runs on its local fallback bucket. */
  get degraded(): boolean {
    return this.fallback !== null;
  }

  private pieceSize(records: number): number {
    const r = this.effectiveRecords;
    if (r === null || r <= 0) return records;
    return Math.max(1, Math.min(records, Math.ceil(r / 10)));
  }

  private async reserve(records: number, bytes: number): Promise<number | null> {
    if (this.fallback && Date.now() < this.retryRedisAt) return null;
    const call = scripts.bucket.run(this.o.redis, [keys.bucket(this.o.runId)], [
      records,
      Math.round(bytes),
      this.o.recordsPerSec ?? 0,
      this.o.bytesPerSec ?? 0,
      this.o.burstMs,
    ]) as Promise<[number, string, string]>;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.timeoutMs);
    });
    try {
      const reply = await Promise.race([call, timeout]);
      if (reply === null) throw new Error(`no answer within ${this.timeoutMs} ms`);
      const [waitMs, rr, rb] = reply;
      this.effectiveRecords = Number(rr) > 0 ? Number(rr) : null;
      this.effectiveBytes = Number(rb) > 0 ? Number(rb) : null;
      this.unlimitedSince = this.effectiveRecords === null && this.effectiveBytes === null ? Date.now() : 0;
      if (this.fallback) {
        this.o.logger?.info({ runId: this.o.runId }, 'Redis answers again: back on the shared rate bucket');
        this.fallback = null;
      }
      return waitMs;
    } catch (err) {
      call.catch(() => undefined);
      this.unlimitedSince = 0;
      if (!this.fallback) {
        const share = (v: number | null): number | null => (v === null ? null : (v / Math.max(1, this.o.workers())) * this.fraction);
        const r = share(this.effectiveRecords);
        const b = share(this.effectiveBytes);
        // Start the local bucket empty: no burst while the shared state is unknown.
        this.fallback = new LocalThrottle(r, b, 100);
        this.o.logger?.warn({ runId: this.o.runId, err: err instanceof Error ? err.message : String(err), recordsPerSec: r }, `Redis unreachable: running at ${Math.round(this.fraction * 100)}% of this worker's share until it answers`);
      }
      this.retryRedisAt = Date.now() + 1_000;
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  async acquire(records: number, bytes: number, signal?: AbortSignal): Promise<number> {
    if (this.fallback === null && this.unlimitedSince > 0 && Date.now() - this.unlimitedSince < (this.o.unlimitedRecheckMs ?? UNLIMITED_RECHECK_MS)) return 0;
    const started = performance.now();
    let left = records;
    const perRecord = records > 0 ? bytes / records : 0;
    while (left > 0 && !signal?.aborted) {
      const n = this.pieceSize(left);
      left -= n;
      const wait = await this.reserve(n, n * perRecord);
      if (wait === null) {
        await (this.fallback ?? new LocalThrottle(null, null, 1000)).acquire(n, n * perRecord, signal);
      } else if (wait > 0) {
        await sleep(wait, signal);
      }
    }
    return performance.now() - started;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Changes a run's rate while it runs; every worker follows at its next reservation. */
export async function setRunRate(redis: Redis, runId: string, rate: { recordsPerSec?: number | null; bytesPerSec?: number | null }): Promise<void> {
  const fields: Record<string, string> = {};
  if (rate.recordsPerSec !== undefined) fields.rate_records = String(rate.recordsPerSec ?? 0);
  if (rate.bytesPerSec !== undefined) fields.rate_bytes = String(rate.bytesPerSec ?? 0);
  if (Object.keys(fields).length) await redis.hset(keys.bucket(runId), fields);
}

export interface RunRate {
  /** Configured limits (null: none). */
  recordsPerSec: number | null;
  bytesPerSec: number | null;
  /** Adaptive back-off multiplier in (0, 1]; the effective limit is the configured one times this. */
  factor: number;
  /** Production consumer lag the adaptive controller last saw, if it runs. */
  productionLag: number | null;
}

export async function readRunRate(redis: Redis, runId: string): Promise<RunRate | null> {
  const h = await redis.hgetall(keys.bucket(runId));
  if (!h.rate_records && !h.rate_bytes) return null;
  const r = Number(h.rate_records ?? 0);
  const b = Number(h.rate_bytes ?? 0);
  return {
    recordsPerSec: r > 0 ? r : null,
    bytesPerSec: b > 0 ? b : null,
    factor: Number(h.factor ?? 1),
    productionLag: h.production_lag !== undefined ? Number(h.production_lag) : null,
  };
}
