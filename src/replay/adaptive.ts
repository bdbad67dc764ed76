import type { Redis } from 'ioredis';
import type { KafkaAdmin } from '../kafka/index.js';
import type { Logger } from '../log.js';
import { keys } from '../redis/keys.js';

/** Lowest share of the configured rate adaptive back-off goes down to. */
export const MIN_FACTOR = 0.05;

export interface AdaptiveOptions {
  redis: Redis;
  admin: KafkaAdmin;
  runId: string;
  workerId: string;
  groups: string[];
  maxLag: number;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Pure step of the controller: halve the rate while production lags more than maxLag, recover
 * by a quarter once lag is below half of it, hold in between (hysteresis avoids flapping).
 */
export function nextFactor(factor: number, lag: number, maxLag: number): number {
  if (lag > maxLag) return Math.max(MIN_FACTOR, factor * 0.5);
  if (lag < maxLag / 2) return Math.min(1, factor * 1.25 + 0.01);
  return factor;
}

/**
 * Watches the production consumer groups' lag and scales the run's shared bucket by a factor.
 * One worker of the run leads (a Redis lease), so the factor moves once per interval, not once
 * per worker. Returns a function that stops the loop.
 */
export function startAdaptive(o: AdaptiveOptions): () => void {
  const interval = o.intervalMs ?? 2_000;
  const lease = `${keys.bucket(o.runId)}:adaptive-leader`;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    try {
      const got = await o.redis.set(lease, o.workerId, 'PX', interval * 3, 'NX');
      const leader = got === 'OK' || (await o.redis.get(lease)) === o.workerId;
      if (!leader) return;
      await o.redis.pexpire(lease, interval * 3);
      let lag = 0;
      for (const g of o.groups) lag += (await o.admin.groupLag(g)).lag;
      const current = Number((await o.redis.hget(keys.bucket(o.runId), 'factor')) ?? 1);
      const next = nextFactor(current, lag, o.maxLag);
      if (next !== current) {
        await o.redis.hset(keys.bucket(o.runId), { factor: String(next), production_lag: String(lag) });
        o.logger.info({ lag, maxLag: o.maxLag, factor: next }, next < current ? 'production lag is high: backing off' : 'production lag is low: raising the rate');
      } else {
        await o.redis.hset(keys.bucket(o.runId), { production_lag: String(lag) });
      }
    } catch (err) {
      o.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'adaptive back-off check failed; trying again');
    }
  };
  const loop = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick().finally(loop), interval);
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
