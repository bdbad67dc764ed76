import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stackLayout } from '../../src/stack/index.js';
import { cliProcess } from '../support/cli.js';

interface StatusJson {
  services: { service: string; state: string; ownership: string; endpoint: string }[];
}

/**
 * A second embedded stack on other ports, in its own state folder (sharing the download cache),
 * so `down` here never touches the stack the other tests use. Its Redis port is free, so this
 * stack also starts its own redis-server.
 */
describe('embedded stack lifecycle', () => {
  const home = mkdtempSync(join(tmpdir(), 'reprocess-stack-'));
  const env = {
    ...process.env,
    REPROCESS_HOME: home,
    REPROCESS_CACHE: resolve(stackLayout().cache),
    REPROCESS_STACK_KAFKA_PORT: '19192',
    REPROCESS_STACK_REGISTRY_PORT: '18181',
    REPROCESS_STACK_REDIS_PORT: '16479',
  };
  afterAll(async () => {
    await cliProcess(['stack', 'down', '--purge'], env);
    rmSync(home, { recursive: true, force: true });
  });

  const status = async (): Promise<StatusJson> => {
    const r = await cliProcess(['stack', 'status', '--json'], env);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as StatusJson;
  };

  it('up starts all three and waits for health; up again is safe; down stops them', async () => {
    const first = await cliProcess(['stack', 'up', '--json'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const up = JSON.parse(first.stdout) as StatusJson;
    expect(up.services.map((s) => [s.service, s.state, s.ownership])).toEqual([
      ['kafka', 'up', 'embedded'],
      ['registry', 'up', 'embedded'],
      ['redis', 'up', 'embedded'],
    ]);
    expect(up.services.map((s) => s.endpoint)).toEqual(['127.0.0.1:19192', 'http://127.0.0.1:18181/apis/ccompat/v7', 'redis://127.0.0.1:16479']);

    const again = await cliProcess(['stack', 'up', '--json'], env);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as StatusJson).services.every((s) => s.state === 'up' && s.ownership === 'embedded')).toBe(true);

    expect((await status()).services.every((s) => s.state === 'up')).toBe(true);
    const table = await cliProcess(['stack', 'status'], env);
    expect(table.stdout).toMatch(/kafka\s+up\s+127\.0\.0\.1:19192\s+by reprocess/);

    const down = await cliProcess(['stack', 'down'], env);
    expect(down.code).toBe(0);
    expect((await status()).services.map((s) => s.state)).toEqual(['down', 'down', 'down']);
  });

  it('refuses with one clear line when a port is taken by something else, and starts nothing', async () => {
    // Probes hang up on it mid-reply; a reset on this side is expected, not a failure.
    const sockets = new Set<Socket>();
    const squatter: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.end('not kafka\n');
    });
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(19192, '127.0.0.1', resolve);
    });
    try {
      const r = await cliProcess(['stack', 'up'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Port 19192 on 127.0.0.1 is taken by something that is not a healthy kafka');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect((await status()).services.find((s) => s.service === 'registry')?.state).toBe('down');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });
});
