import { afterAll, describe, expect, it } from 'vitest';
import { startAdaptive } from '../../src/replay/adaptive.js';
import { RedisThrottle, readRunRate } from '../../src/replay/redis-throttle.js';
import { keys } from '../../src/redis/keys.js';
import { connectRedisChecked } from '../../src/redis/index.js';
import { silentLogger } from '../../src/log.js';
import { testEndpoints, testKafka, unique, waitFor } from '../support/env.js';

describe('adaptive back-off', () => {
  const kafka = testKafka();
  const redisP = connectRedisChecked(testEndpoints().redis);
  afterAll(async () => (await redisP).disconnect());

  it('lowers the run\'s rate while a production group lags past maxLag, and raises it again when it catches up', async () => {
    const redis = await redisP;
    const topic = await kafka.topic('prod', 2);
    const group = unique('dashboards');
    const producer = await kafka.client.producer();
    await producer.send(topic, Array.from({ length: 600 }, (_, i) => ({ key: Buffer.from(String(i)), value: Buffer.from('x') })));
    await producer.close();
    const admin = await kafka.client.admin();
    // The production group has read nothing yet: 600 records behind.
    await admin.setCommittedOffsets(group, topic, [{ partition: 0, offset: '0' }, { partition: 1, offset: '0' }]);

    const runId = unique('adaptive');
    const throttle = new RedisThrottle({ redis, runId, recordsPerSec: 1000, bytesPerSec: null, burstMs: 100, workers: () => 1 });
    await throttle.acquire(1, 1);
    const stop = startAdaptive({ redis, admin, runId, workerId: 'w1', groups: [group], maxLag: 100, logger: silentLogger(), intervalMs: 200 });
    try {
      const low = await waitFor('the factor to fall', async () => {
        const r = await readRunRate(redis, runId);
        return r && r.factor <= 0.25 ? r : undefined;
      });
      expect(low.productionLag).toBe(600);
      await throttle.acquire(1, 1);
      expect(throttle.currentLimit()).toBeLessThanOrEqual(250);

      // Production catches up.
      const marks = await admin.watermarks(topic);
      await admin.setCommittedOffsets(group, topic, marks.map((m) => ({ partition: m.partition, offset: m.high })));
      const back = await waitFor('the factor to recover', async () => {
        const r = await readRunRate(redis, runId);
        return r && r.factor === 1 ? r : undefined;
      });
      expect(back.productionLag).toBe(0);
      await throttle.acquire(1, 1);
      expect(throttle.currentLimit()).toBe(1000);
    } finally {
      stop();
      await redis.del(keys.bucket(runId), `${keys.bucket(runId)}:adaptive-leader`);
      await admin.deleteGroups([group]).catch(() => undefined);
    }
  });
});
