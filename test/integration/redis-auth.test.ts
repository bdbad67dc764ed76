import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEndpoints } from '../../src/config/endpoints.js';
import { connectRedisChecked } from '../../src/redis/index.js';
import { sleep } from '../support/workers.js';

const PORT = 16392;
const PASSWORD = 'r3dis-s3cret';

/** A password-protected Redis of this test's own (Debian's redis-server). */
describe('Redis with a password', () => {
  let server: ChildProcess;
  beforeAll(async () => {
    server = spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD], { stdio: 'ignore' });
    await sleep(500);
  });
  afterAll(() => {
    server.kill('SIGKILL');
  });

  it('connects with the password in REDIS_URL or in REDIS_PASSWORD', async () => {
    for (const env of [{ REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${PORT}` }, { REDIS_URL: `redis://127.0.0.1:${PORT}`, REDIS_PASSWORD: PASSWORD }]) {
      const redis = await connectRedisChecked(loadEndpoints(env).redis);
      expect(await redis.ping()).toBe('PONG');
      redis.disconnect();
    }
  });

  it('fails clearly on a wrong password, without printing any password', async () => {
    const err = await connectRedisChecked(loadEndpoints({ REDIS_URL: `redis://:wrong-${PASSWORD}@127.0.0.1:${PORT}` }).redis).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as Error).message).toContain('refused the credentials');
    expect((err as Error).message).toContain('REDIS_URL');
    expect((err as Error).message).not.toContain(PASSWORD);
  });
});
