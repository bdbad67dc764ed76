import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeWireHeader } from '../../src/core/index.js';
import { consumerGroupFor } from '../../src/replay/engine.js';
import { readAll } from '../support/consume.js';
import { testKafka, unique, waitFor } from '../support/env.js';
import { createSource, makeEvents, OUT, writeJob } from '../support/replay-fixture.js';
import { sleep, startWorker } from '../support/workers.js';

const PORT = 16391;

/** A Redis of this test's own (Debian's redis-server), so stopping it touches nothing else. */
function startRedis(dir: string): ChildProcess {
  return spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
}

describe('Redis outage during a replay', () => {
  const kafka = testKafka();
  const dir = mkdtempSync(join(tmpdir(), 'reprocess-redis-'));
  let redis: ChildProcess | undefined;
  afterAll(() => {
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps going at a reduced local rate while Redis is down and rejoins the shared bucket when it returns', { timeout: 180_000 }, async () => {
    redis = startRedis(dir);
    await sleep(500);
    const source = await createSource(kafka.client, makeEvents(1500), { partitions: 2 });
    const job = writeJob(source, { extra: 'rate:\n  records: 200\n  burst: 200ms\ntransaction:\n  maxRecords: 40\n  maxMs: 300ms\n' });
    const runId = unique('outage');
    const admin = await kafka.client.admin();
    const committed = async (): Promise<number> => (await admin.committedOffsets(consumerGroupFor(runId), source.topic)).reduce((s, c) => s + Number(c.offset ?? 0), 0);

    const worker = startWorker(job.spec, runId, [], { ...process.env, REDIS_URL: `redis://127.0.0.1:${PORT}`, LOG_LEVEL: 'info' });
    await waitFor('the replay to make progress', async () => ((await committed()) >= 200 ? true : undefined), 60_000);
    redis.kill('SIGKILL');
    const atOutage = await committed();
    await sleep(3_000);
    // Still replaying without Redis, at no more than half its share (200/s × 50% = 100/s) plus a little slack.
    const during = (await committed()) - atOutage;
    expect(during).toBeGreaterThan(0);
    expect(during).toBeLessThanOrEqual(100 * 3 + 60);
    redis = startRedis(dir);
    const code = await Promise.race([worker.exited, sleep(120_000).then(() => 'hung')]);
    expect(code, worker.output()).toBe(0);
    expect(worker.output()).toContain('Redis unreachable: running at 50%');
    expect(worker.output()).toContain('back on the shared rate bucket');

    const outType = avro.Type.forSchema(OUT as avro.Schema);
    const sink = [...(await readAll(kafka.client, `${job.dataset}_v3`)).values()].flat().map((r) => (outType.fromBuffer(decodeWireHeader(r.value).body) as { n: number }).n);
    expect(sink.sort((a, b) => a - b)).toEqual(source.events.filter((e) => e.n % 97 !== 13).map((e) => e.n));
    await admin.deleteTopics([source.topic, `${job.dataset}_v3`, `${job.dataset}_v3.dlq`]).catch(() => undefined);
    job.cleanup();
  });
});
