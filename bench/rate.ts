/**
 * Rate accuracy of the shared token bucket: W workers (each with its own Redis connection, as
 * separate processes would have) ask RedisThrottle for records the way the replay does — chunks
 * of min(transaction.maxRecords, rate·maxMs) — for a fixed time, and we count what was granted.
 * The bucket starts full (burst_ms of tokens), so the whole-window rate includes one burst and
 * is counted in whole chunks; the steady rate is measured from each worker's grant spacing
 * after the burst (the workers go on past the window until each has two grants after it).
 */
import type { Redis } from 'ioredis';
import { connectRedisChecked } from '../dist/redis/index.js';
import { keys } from '../dist/redis/keys.js';
import { RedisThrottle } from '../dist/replay/redis-throttle.js';
import type { RedisEndpoint } from '../dist/config/endpoints.js';
import { round } from './lib.ts';

export interface RateFigures {
  workers: number;
  targetPerSec: number;
  seconds: number;
  granted: number;
  achievedPerSec: number;
  /** achieved / target over the whole window (includes the initial burst). */
  ratio: number;
  /** What a perfect bucket grants over the window: (target·seconds + burst) / seconds. */
  idealWithBurstPerSec: number;
  /** null when a worker got fewer than two grants after the burst within 4× the window (run longer). */
  steadyPerSec: number | null;
  /** Steady rate / target: records granted after the burst, between the first and last grant. */
  steadyRatio: number | null;
}

export async function measureRate(o: { redis: RedisEndpoint; workers: number; targetPerSec: number; seconds: number; burstMs?: number; runId: string; chunk?: number; bytesPerRecord?: number }): Promise<RateFigures> {
  const burstMs = o.burstMs ?? 1000;
  const chunk = o.chunk ?? Math.min(10_000, Math.ceil(o.targetPerSec)); // transaction.maxRecords 10,000, maxMs 1000
  const conns: Redis[] = [];
  for (let i = 0; i < o.workers; i++) conns.push(await connectRedisChecked(o.redis));
  const grants: { worker: number; at: number; n: number }[] = [];
  try {
    await conns[0]?.del(keys.bucket(o.runId));
    const stop = new AbortController();
    const start = performance.now();
    const deadline = start + o.seconds * 1000;
    // The whole-window figure counts the grants up to the deadline. The steady rate needs two
    // grants after the burst from every worker, so all workers go on past the deadline until each
    // has them (at most to 4× the window): a worker that stopped early would speed up the others.
    const afterBurst = new Array<number>(o.workers).fill(0);
    let enoughAt = Number.POSITIVE_INFINITY;
    const stopAt = (): number => Math.min(start + 4 * o.seconds * 1000, Math.max(deadline, enoughAt));
    await Promise.all(conns.map(async (redis, worker) => {
      const throttle = new RedisThrottle({ redis, runId: o.runId, recordsPerSec: o.targetPerSec, bytesPerSec: null, burstMs, workers: () => o.workers });
      while (performance.now() < stopAt()) {
        await throttle.acquire(chunk, chunk * (o.bytesPerRecord ?? 110), stop.signal);
        const at = performance.now();
        if (at > stopAt()) break;
        grants.push({ worker, at, n: chunk });
        if (at > start + burstMs) afterBurst[worker] = (afterBurst[worker] ?? 0) + 1;
        if (enoughAt === Number.POSITIVE_INFINITY && afterBurst.every((n) => n >= 2)) enoughAt = at;
      }
      await throttle.close();
    }));
    const total = grants.filter((g) => g.at <= deadline).reduce((s, g) => s + g.n, 0);
    const achieved = total / o.seconds;
    // Steady rate after the burst, per worker from the spacing of its own grants (each worker's
    // grants are regular; counting whole chunks against a fixed window would be off by up to a
    // chunk per worker), summed over the workers.
    let steadyRate = 0;
    for (let w = 0; w < o.workers; w++) {
      const mine = grants.filter((g) => g.worker === w && g.at > start + burstMs).sort((a, b) => a.at - b.at);
      const first = mine[0];
      const last = mine[mine.length - 1];
      steadyRate += first && last && last.at > first.at ? mine.slice(1).reduce((s, g) => s + g.n, 0) / ((last.at - first.at) / 1000) : NaN;
    }
    return {
      workers: o.workers,
      targetPerSec: o.targetPerSec,
      seconds: o.seconds,
      granted: total,
      achievedPerSec: Math.round(achieved),
      ratio: round(achieved / o.targetPerSec, 3),
      idealWithBurstPerSec: Math.round((o.targetPerSec * o.seconds + (o.targetPerSec * burstMs) / 1000) / o.seconds),
      steadyPerSec: Number.isFinite(steadyRate) ? Math.round(steadyRate) : null,
      steadyRatio: Number.isFinite(steadyRate) ? round(steadyRate / o.targetPerSec, 3) : null,
    };
  } finally {
    await conns[0]?.del(keys.bucket(o.runId)).catch(() => undefined);
    await Promise.all(conns.map((c) => c.quit().catch(() => undefined)));
  }
}
