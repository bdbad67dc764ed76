import { describe, expect, it } from 'vitest';
import { connectRedisChecked } from '../../src/redis/index.js';
import { RedisThrottle, readRunRate, setRunRate } from '../../src/replay/redis-throttle.js';
import { keys } from '../../src/redis/keys.js';
import { testEndpoints, unique } from '../support/env.js';

/** Grants `total` records in pieces across `workers` throttles sharing one bucket; returns grant times (ms). */
async function drain(runId: string, workers: number, total: number, rate: number, burstMs: number): Promise<number[]> {
  const redis = await connectRedisChecked(testEndpoints().redis);
  const grants: number[] = [];
  try {
    const throttles = Array.from({ length: workers }, () => new RedisThrottle({ redis, runId, recordsPerSec: rate, bytesPerSec: null, burstMs, workers: () => workers }));
    let left = total;
    await Promise.all(throttles.map(async (t) => {
      while (left > 0) {
        const n = Math.min(10, left);
        left -= n;
        await t.acquire(n, n * 200);
        for (let i = 0; i < n; i++) grants.push(performance.now());
      }
    }));
  } finally {
    await redis.del(keys.bucket(runId));
    redis.disconnect();
  }
  return grants.sort((a, b) => a - b);
}

function maxPerSecond(grants: number[]): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < grants.length; i++) {
    while ((grants[i] ?? 0) - (grants[j] ?? 0) >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('the shared token bucket in Redis', () => {
  for (const workers of [1, 4]) {
    it(`holds ${workers} worker(s) to the rate: N records take (N - burst)/R seconds, no second above R + burst`, async () => {
      const rate = 400;
      const burstMs = 250;
      const total = 1200;
      const grants = await drain(unique('bucket'), workers, total, rate, burstMs);
      const first = grants[0] ?? 0;
      const elapsed = ((grants[grants.length - 1] ?? 0) - first) / 1000;
      const ideal = (total - (rate * burstMs) / 1000) / rate;
      expect(grants).toHaveLength(total);
      expect(elapsed).toBeGreaterThanOrEqual(ideal * 0.97);
      expect(elapsed).toBeLessThanOrEqual(ideal * 1.1 + 0.2);
      expect(maxPerSecond(grants)).toBeLessThanOrEqual(rate + (rate * burstMs) / 1000 + 10);
    });
  }

  it('follows a rate change within a second', async () => {
    const runId = unique('bucket');
    const redis = await connectRedisChecked(testEndpoints().redis);
    try {
      const t = new RedisThrottle({ redis, runId, recordsPerSec: 100, bytesPerSec: null, burstMs: 100, workers: () => 1 });
      await t.acquire(1, 1);
      expect(t.currentLimit()).toBe(100);
      await setRunRate(redis, runId, { recordsPerSec: 2000 });
      expect((await readRunRate(redis, runId))?.recordsPerSec).toBe(2000);
      const started = performance.now();
      await t.acquire(1000, 1000);
      // At the old rate this would take 10 s; at the new one about half a second.
      expect(performance.now() - started).toBeLessThan(1500);
      expect(t.currentLimit()).toBe(2000);
    } finally {
      await redis.del(keys.bucket(runId));
      redis.disconnect();
    }
  });

  it('asks Redis again only after a while when the run has no limit, and then follows a limit set meanwhile', async () => {
    const redis = await connectRedisChecked(testEndpoints().redis);
    const runs = [unique('bucket'), unique('bucket')];
    try {
      const lasting = new RedisThrottle({ redis, runId: runs[0] as string, recordsPerSec: null, bytesPerSec: null, burstMs: 100, workers: () => 1, unlimitedRecheckMs: 60_000 });
      expect(await lasting.acquire(10, 10)).toBeGreaterThanOrEqual(0);
      // Each call of the bucket script stamps the bucket with Redis's clock (ms).
      const stamp = await redis.hget(keys.bucket(runs[0] as string), 'ts_ms');
      await new Promise((r) => setTimeout(r, 5));
      await setRunRate(redis, runs[0] as string, { recordsPerSec: 100 });
      expect(await lasting.acquire(1_000_000, 10)).toBe(0);
      expect(await redis.hget(keys.bucket(runs[0] as string), 'ts_ms')).toBe(stamp);
      expect(lasting.currentLimit()).toBeNull();

      const brief = new RedisThrottle({ redis, runId: runs[1] as string, recordsPerSec: null, bytesPerSec: null, burstMs: 100, workers: () => 1, unlimitedRecheckMs: 50 });
      await brief.acquire(10, 10);
      await setRunRate(redis, runs[1] as string, { recordsPerSec: 100 });
      await new Promise((r) => setTimeout(r, 60));
      await brief.acquire(1, 1);
      expect(brief.currentLimit()).toBe(100);
    } finally {
      await redis.del(...runs.map((r) => keys.bucket(r)));
      redis.disconnect();
    }
  });

  it('falls back to half of its share, never faster, when Redis does not answer', async () => {
    // A connection that was closed answers nothing, as a Redis that went away does.
    const dead = await connectRedisChecked(testEndpoints().redis);
    dead.disconnect();
    const t = new RedisThrottle({ redis: dead, runId: unique('bucket'), recordsPerSec: 400, bytesPerSec: null, burstMs: 1000, workers: () => 2, redisTimeoutMs: 200 });
    const started = performance.now();
    await t.acquire(100, 100);
    const seconds = (performance.now() - started) / 1000;
    expect(t.degraded).toBe(true);
    // Share = 400 / 2 workers = 200/s; fallback = 50% = 100/s; the local bucket starts empty.
    expect(t.currentLimit()).toBe(100);
    expect(seconds).toBeGreaterThanOrEqual(0.85);
  });
});
