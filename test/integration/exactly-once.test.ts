import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeWireHeader } from '../../src/core/index.js';
import { cli } from '../support/cli.js';
import { readAll } from '../support/consume.js';
import { consumerGroupFor } from '../../src/replay/engine.js';
import { testKafka, unique, waitFor, cleanupDatasets } from '../support/env.js';
import { createSource, makeEvents, OUT, writeJob, type JobDir, type Source } from '../support/replay-fixture.js';
import { sleep, startWorker } from '../support/workers.js';

const outType = avro.Type.forSchema(OUT as avro.Schema);

/**
 * The sink, read with read_committed, holds each valid source record of the window exactly once,
 * and in source order within each source partition (the fixture keys by user, so a source
 * partition's users map to sink partitions deterministically and per-key order is checkable).
 */
async function expectExactlyOnce(kafka: ReturnType<typeof testKafka>, job: JobDir, source: Source): Promise<void> {
  const sink = [...(await readAll(kafka.client, `${job.dataset}_v3`)).values()].flat().map((r) => outType.fromBuffer(decodeWireHeader(r.value).body) as { n: number; user_id: string });
  const dlq = [...(await readAll(kafka.client, `${job.dataset}_v3.dlq`)).values()].flat();
  const ns = sink.map((o) => o.n).sort((a, b) => a - b);
  const expected = source.events.filter((e) => e.n % 97 !== 13).map((e) => e.n);
  expect(ns).toEqual(expected);
  expect(dlq.length).toBe(source.events.length - expected.length);
  // Per key, in source order.
  const perUser = new Map<string, number[]>();
  for (const o of sink) perUser.set(o.user_id, [...(perUser.get(o.user_id) ?? []), o.n]);
  for (const list of perUser.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
}

describe('exactly-once under failure', () => {
  const kafka = testKafka();
  const jobs: JobDir[] = [];
  afterAll(() => cleanupDatasets(kafka.client, jobs));

  it('a replay killed with SIGKILL at random points, then resumed, writes each record exactly once, in order', { timeout: 240_000 }, async () => {
    const source = await createSource(kafka.client, makeEvents(1500), { partitions: 3 });
    const job = writeJob(source, { extra: 'rate:\n  records: 150\n  burst: 200ms\ntransaction:\n  maxRecords: 40\n  maxMs: 300ms\n' });
    jobs.push(job);
    const runId = unique('kill');
    const admin = await kafka.client.admin();
    const committed = async (): Promise<number> =>
      (await admin.committedOffsets(consumerGroupFor(runId), source.topic)).reduce((s, c) => s + Number(c.offset ?? 0), 0);
    let last = 0;
    for (let kill = 0; kill < 4; kill++) {
      const w = startWorker(job.spec, runId);
      // Kill once this worker has committed a random amount more (transactions of 40 records
      // commit several times a second, so the kill lands mid-transaction more often than not).
      const target = last + 60 + Math.floor(Math.random() * 200);
      last = await waitFor('progress before the kill', async () => {
        const c = await committed();
        return c >= target ? c : undefined;
      }, 60_000);
      await sleep(Math.floor(Math.random() * 300));
      w.child.kill('SIGKILL');
      expect(await w.exited).toBe(null);
    }
    expect(last).toBeLessThan(1500);
    const done = await cli(['replay', job.spec, '--run-id', runId, '--json', '--rate', '100000']);
    expect(done.code, done.stderr).toBe(0);
    expect((JSON.parse(done.stdout) as { resumed: boolean }).resumed).toBe(true);
    await expectExactlyOnce(kafka, job, source);
  });

  it('several workers share one run; one joins mid-run and one leaves: nothing lost or duplicated', { timeout: 180_000 }, async () => {
    const source = await createSource(kafka.client, makeEvents(1200), { partitions: 4 });
    const job = writeJob(source, { extra: 'rate:\n  records: 200\n  burst: 200ms\ntransaction:\n  maxRecords: 50\n  maxMs: 300ms\n' });
    jobs.push(job);
    const runId = unique('many');
    const a = startWorker(job.spec, runId);
    const b = startWorker(job.spec, runId);
    await sleep(5_000);
    const c = startWorker(job.spec, runId);
    await sleep(3_000);
    const status = await cli(['status', runId, '--json']);
    const st = JSON.parse(status.stdout) as { workers: { partitions: number[] }[] };
    // No partition is held by two workers at once.
    const held = st.workers.flatMap((w) => w.partitions);
    expect(new Set(held).size).toBe(held.length);
    b.child.kill('SIGTERM');
    const bCode = await Promise.race([b.exited, sleep(40_000).then(() => 'hung')]);
    expect(bCode, b.output()).not.toBe('hung');
    const finished = await Promise.race([Promise.all([a.exited, c.exited]), sleep(60_000).then(() => null)]);
    expect(finished, `A:\n${a.output()}\nC:\n${c.output()}`).not.toBeNull();
    const [codeA, codeC] = finished ?? [null, null];
    expect(codeA, a.output()).toBe(0);
    expect(codeC, c.output()).toBe(0);
    await expectExactlyOnce(kafka, job, source);
  });

  it('a paused worker (SIGSTOP) is fenced: after it wakes, none of its writes become visible', async () => {
    const source = await createSource(kafka.client, makeEvents(900), { partitions: 2 });
    const job = writeJob(source, { extra: 'rate:\n  records: 150\n  burst: 200ms\ntransaction:\n  maxRecords: 30\n  maxMs: 300ms\n' });
    jobs.push(job);
    const runId = unique('zombie');
    const zombie = startWorker(job.spec, runId);
    await sleep(5_000);
    zombie.child.kill('SIGSTOP');
    // The zombie holds its partitions and maybe an open transaction; a new worker takes over
    // once the zombie's session times out, and fences its transactional producers.
    const heir = startWorker(job.spec, runId);
    const heirCode = await heir.exited;
    expect(heirCode, heir.output()).toBe(0);
    zombie.child.kill('SIGCONT');
    // Awake, it finds its producers fenced and the run complete; whatever it does, it must not add output.
    const zombieCode = await Promise.race([zombie.exited, sleep(60_000).then(() => 'still running')]);
    if (zombieCode === 'still running') zombie.child.kill('SIGKILL');
    await expectExactlyOnce(kafka, job, source);
  });
});
