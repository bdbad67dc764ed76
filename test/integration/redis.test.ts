import { describe, expect, it } from 'vitest';
import { connectRedisChecked } from '../../src/redis/index.js';
import { testEndpoints, unique } from '../support/env.js';

describe('Redis', () => {
  it('round trips a value and runs a Lua script', async () => {
    const redis = await connectRedisChecked(testEndpoints().redis);
    const key = unique('test:redis');
    try {
      await redis.set(key, 'hello', 'EX', 60);
      expect(await redis.get(key)).toBe('hello');
      // Scripts are how the rate bucket stays atomic; TIME is Redis's own clock.
      const [secs] = (await redis.eval("return redis.call('TIME')", 0)) as [string, string];
      expect(Number(secs)).toBeGreaterThan(1_600_000_000);
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  });

  it('names the endpoint and the variable when Redis does not answer', async () => {
    const err = await connectRedisChecked({ url: 'redis://:hunter2@127.0.0.1:1', tls: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENDPOINT_UNREACHABLE' });
    const message = (err as Error).message;
    expect(message).toContain('127.0.0.1:1');
    expect(message).toContain('REDIS_URL');
    expect(message).not.toContain('hunter2');
  });
});
