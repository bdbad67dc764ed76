import { afterAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/replay/dlq.js';
import { consumerGroupFor } from '../../src/replay/engine.js';
import { readAll } from '../support/consume.js';
import { testEndpoints, testKafka, unique, waitFor } from '../support/env.js';
import { OutageProxy } from '../support/proxy.js';
import { createSource, makeEvents, writeJob } from '../support/replay-fixture.js';
import { sleep, startWorker } from '../support/workers.js';

describe('schema registry outage during a replay', () => {
  const kafka = testKafka();
  const registry = new URL(testEndpoints().registry.url);
  const proxy = new OutageProxy(18391, { host: registry.hostname, port: Number(registry.port || 80) });
  afterAll(() => proxy.down());

  it('waits for the registry with backoff and never sends a record to the DLQ for it', { timeout: 120_000 }, async () => {
    await proxy.up();
    const source = await createSource(kafka.client, makeEvents(300), { partitions: 2 });
    // Throttled, so the v2 events (the second half of each partition) and their schema id are
    // first met well after the run started.
    const job = writeJob(source, { extra: 'rate:\n  records: 30\n  burst: 100ms\n' });
    const runId = unique('regdown');
    const url = `http://127.0.0.1:${proxy.port}${registry.pathname}`;
    const worker = startWorker(job.spec, runId, [], { ...process.env, SCHEMA_REGISTRY_URL: url, LOG_LEVEL: 'warn' });
    const admin = await kafka.client.admin();
    const committed = async (): Promise<number> => (await admin.committedOffsets(consumerGroupFor(runId), source.topic)).reduce((s, c) => s + Number(c.offset ?? 0), 0);
    await waitFor('the replay to start', async () => ((await committed()) >= 20 ? true : undefined), 60_000);
    await proxy.down();
    const atDown = await committed();
    await sleep(12_000);
    // Stalled at the first v2 record: waiting, not skipping to the DLQ.
    const atUp = await committed();
    expect(atUp - atDown).toBeLessThan(150);
    await proxy.up();
    const code = await Promise.race([worker.exited, sleep(90_000).then(() => 'hung')]);
    expect(code, worker.output()).toBe(0);
    expect(worker.output()).toContain('schema registry unavailable; waiting');

    // Only the transform's own failures are in the DLQ: nothing for the outage.
    const dlq = [...(await readAll(kafka.client, `${job.dataset}_v3.dlq`)).values()].flat();
    expect(dlq.map((d) => d.headers[DLQ_HEADERS.stage]?.toString())).toEqual(dlq.map(() => 'transform'));
    expect(dlq).toHaveLength(source.events.filter((e) => e.n % 97 === 13).length);
    await admin.deleteTopics([source.topic, `${job.dataset}_v3`, `${job.dataset}_v3.dlq`]).catch(() => undefined);
    job.cleanup();
  });
});
