import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeWireHeader, partitionForKey } from '../../src/core/index.js';
import { DLQ_HEADERS } from '../../src/replay/dlq.js';
import { cli, cliProcess } from '../support/cli.js';
import { readAll } from '../support/consume.js';
import { testKafka } from '../support/env.js';
import { createSource, makeEvents, OUT, T0, userUuid, writeJob, type JobDir, type Source } from '../support/replay-fixture.js';

const HOUR = 3_600_000;
const outType = avro.Type.forSchema(OUT as avro.Schema);

interface Out {
  user_id: string;
  n: number;
  amount_cents: number;
  country: string | null;
  source_version: number;
}

describe('replay', () => {
  const kafka = testKafka();
  const jobs: JobDir[] = [];
  const created: string[] = [];
  afterAll(async () => {
    for (const j of jobs) j.cleanup();
    const admin = await kafka.client.admin();
    const topics = (await admin.listTopics()).filter((t) => created.some((c) => t.startsWith(c)));
    if (topics.length) await admin.deleteTopics(topics).catch(() => undefined);
  });
  const job = (source: Source, o: Parameters<typeof writeJob>[1] = {}): JobDir => {
    const j = writeJob(source, o);
    jobs.push(j);
    created.push(source.topic, `${j.dataset}_v`);
    return j;
  };
  const sink = async (j: JobDir, version = 3): Promise<{ records: Out[]; byPartition: Map<number, Out[]>; raw: Awaited<ReturnType<typeof readAll>> }> => {
    const raw = await readAll(kafka.client, `${j.dataset}_v${version}`);
    const byPartition = new Map<number, Out[]>();
    for (const [p, recs] of raw) byPartition.set(p, recs.map((r) => outType.fromBuffer(decodeWireHeader(r.value).body) as Out));
    return { records: [...byPartition.values()].flat(), byPartition, raw };
  };

  // Both delivery modes, the ways of processing (processing threads, one or two, or the Kafka thread itself),
  // and both ways records are read: as columns where they lie (uncompressed batches, the fast
  // path), or as kafkajs's records copied into columns (a gzip-compressed source; kafkajs as
  // shipped, in a process of its own).
  const MODES: { mode: string; args: string[]; compression?: 'gzip'; env?: Record<string, string> }[] = [
    { mode: 'exactly-once, processing threads (the defaults: one on two cores, two on more)', args: [] },
    { mode: 'exactly-once, two processing threads taking chunks in turn', args: ['--threads', '2'] },
    { mode: 'at-least-once, one thread', args: ['--at-least-once', '--threads', '0'] },
    { mode: 'a gzip-compressed source', args: ['--at-least-once'], compression: 'gzip' },
    { mode: 'kafkajs as shipped', args: [], env: { REPROCESS_KAFKAJS_FASTPATH: '0' } },
  ];
  it.each(MODES)('replays a mixed v1/v2 window by time: upcasts legacy ids, DLQs poison, keeps keys, order and timestamps ($mode)', async ({ args, compression, env }) => {
    const events = makeEvents(400, { 10: 'bad-magic', 50: 'truncated', 250: 'unknown-schema-id', 300: 'unknown-version' });
    const source = await createSource(kafka.client, events, compression ? { compression } : {});
    // Window: events 20..379 (hours 20..380).
    const j = job(source, { from: new Date(T0 + 20 * HOUR).toISOString(), to: new Date(T0 + 380 * HOUR).toISOString() });

    const plan = await cli(['plan', j.spec, '--json']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    const p = JSON.parse(plan.stdout) as { partitions: { partition: number; start: string; end: string; records: number }[]; records: number };
    expect(p.records).toBe(360);
    expect(p.partitions.map((x) => x.partition)).toEqual([0, 1, 2]);
    // plan writes nothing: no sink topic.
    expect(await (await kafka.client.admin()).topicExists(`${j.dataset}_v3`)).toBe(false);

    const argv = ['replay', j.spec, '--json', '--run-id', `${j.dataset}-run`, ...args];
    // The fast path is installed once per process: turning it off takes a process of its own.
    const r = env ? await cliProcess(argv, { ...process.env, ...env }) : await cli(argv);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { read: number; written: number; dlq: number; state: string };
    const inWindow = events.filter((e) => e.n >= 20 && e.n < 380);
    const poison = inWindow.filter((e) => e.poison);
    const throws = inWindow.filter((e) => !e.poison && e.n % 97 === 13);
    expect(summary.state).toBe('completed');
    expect(summary.read).toBe(360);
    expect(summary.dlq).toBe(poison.length + throws.length);
    expect(summary.written).toBe(360 - poison.length - throws.length);

    const { records, byPartition, raw } = await sink(j);
    const good = inWindow.filter((e) => !e.poison && e.n % 97 !== 13);
    expect(records.map((o) => o.n).sort((a, b) => a - b)).toEqual(good.map((e) => e.n));
    for (const o of records) {
      const e = events[o.n];
      // v1 integer ids arrive as the same UUID v2 events carry for that user.
      expect(o.user_id).toBe(userUuid(e?.userInt ?? -1));
      expect(o.source_version).toBe(e?.version);
    }
    // Key = user_id, partition = Java's murmur2 of the key; source timestamps kept; per-key order kept.
    const sinkPartitions = byPartition.size;
    for (const [partition, list] of raw) {
      list.forEach((rec, i) => {
        const o = byPartition.get(partition)?.[i];
        expect(rec.key?.toString()).toBe(o?.user_id);
        expect(partitionForKey(rec.key ?? Buffer.alloc(0), sinkPartitions)).toBe(partition);
        expect(Number(rec.timestamp)).toBe(T0 + (o?.n ?? 0) * HOUR);
      });
      const perUser = new Map<string, number[]>();
      for (const o of byPartition.get(partition) ?? []) perUser.set(o.user_id, [...(perUser.get(o.user_id) ?? []), o.n]);
      for (const ns of perUser.values()) expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }

    // The DLQ holds the originals, unchanged, with headers saying where from and why.
    const dlq = [...(await readAll(kafka.client, `${j.dataset}_v3.dlq`)).values()].flat();
    expect(dlq).toHaveLength(poison.length + throws.length);
    const byN = new Map(dlq.map((d) => [Number(d.headers['test-n']?.toString()), d]));
    const header = (n: number, h: string): string | undefined => byN.get(n)?.headers[h]?.toString();
    expect(header(50, DLQ_HEADERS.reason)).toBe('truncated');
    expect(header(50, DLQ_HEADERS.stage)).toBe('decode');
    expect(header(250, DLQ_HEADERS.reason)).toBe('unknown-schema-id');
    expect(header(300, DLQ_HEADERS.reason)).toBe('unknown-version');
    expect(header(300, DLQ_HEADERS.stage)).toBe('upcast');
    const thrown = throws[0]?.n ?? -1;
    expect(header(thrown, DLQ_HEADERS.stage)).toBe('transform');
    expect(header(thrown, DLQ_HEADERS.errorMessage)).toContain('transform refuses');
    expect(header(thrown, DLQ_HEADERS.errorClass)).toBe('Error');
    expect(header(50, DLQ_HEADERS.sourceTopic)).toBe(source.topic);
    expect(header(50, DLQ_HEADERS.sourcePartition)).toBe(String(source.partitionOf.get(50)));
    expect(byN.get(50)?.timestamp).toBe(String(T0 + 50 * HOUR));
    expect(byN.get(50)?.value?.length).toBe(3);

    const status = await cli(['status', `${j.dataset}-run`, '--json']);
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout) as { state: string; progress: { done: number; total: number } };
    expect(st.state).toBe('completed');
    expect(st.progress).toEqual({ done: 360, total: 360 });
  });

  it('replays by offsets, finishes empty partitions at once, and ignores records appended during the run', async () => {
    const events = makeEvents(400);
    const source = await createSource(kafka.client, events, { partitions: 4 });
    const admin = await kafka.client.admin();
    const marks = await admin.watermarks(source.topic);
    const empty = marks.find((m) => m.high === '0');
    // Partition 0 from offset 5 to its end; partition 1 whole; the rest are not in the window.
    const from = JSON.stringify({ 0: 5, 1: 0 });
    const to = JSON.stringify({ 0: Number(marks[0]?.high), 1: Number(marks[1]?.high) });
    const j = job(source, { from, to, extra: 'rate:\n  records: 60\n  burst: 1s\n' });
    const expectedCount = Number(marks[0]?.high) - 5 + Number(marks[1]?.high);

    const replay = cli(['replay', j.spec, '--json']);
    // While it runs (throttled to 60/s), append more records to the window's partitions.
    await new Promise((r) => setTimeout(r, 500));
    const more = await createSource(kafka.client, makeEvents(40), { topic: `${source.topic}-unused`, partitions: 1 }).catch(() => null);
    expect(more).not.toBeNull();
    const producer = await kafka.client.producer();
    await producer.send(source.topic, [0, 1].flatMap((partition) => Array.from({ length: 5 }, () => ({ key: null, value: Buffer.from('appended later'), partition }))));
    await producer.close();
    created.push(`${source.topic}-unused`);

    const r = await replay;
    expect(r.code, r.stderr).toBe(0);
    // The appends landed while the run was going (it takes seconds at 60 records/s).
    expect((JSON.parse(r.stdout) as { durationMs: number }).durationMs).toBeGreaterThan(1_000);
    const summary = JSON.parse(r.stdout) as { read: number; dlq: number; partitions: { partition: number }[] };
    expect(summary.read).toBe(expectedCount);
    expect(summary.partitions.map((x) => x.partition)).toEqual([0, 1]);
    const { records } = await sink(j);
    expect(records.length + summary.dlq).toBe(expectedCount);
    expect(empty === undefined || marks.length === 4).toBe(true);
  });

  it('finishes a partition whose last offsets are transaction markers', async () => {
    const source = await createSource(kafka.client, makeEvents(90), { partitions: 2, transactional: true });
    const admin = await kafka.client.admin();
    const marks = await admin.watermarks(source.topic);
    const j = job(source, { from: JSON.stringify({ 0: 0, 1: 0 }), to: JSON.stringify({ 0: Number(marks[0]?.high), 1: Number(marks[1]?.high) }) });
    const r = await cli(['replay', j.spec, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { read: number; written: number; dlq: number };
    expect(summary.read).toBe(90);
    expect(summary.written + summary.dlq).toBe(90);
  });

  it('refuses unsafe or invalid jobs with exit 2 and writes nothing', async () => {
    const source = await createSource(kafka.client, makeEvents(10), { partitions: 1 });
    const admin = await kafka.client.admin();
    const before = new Set(await admin.listTopics());

    const backwards = job(source, { from: new Date(T0 + 5 * HOUR).toISOString(), to: new Date(T0).toISOString() });
    const r1 = await cli(['replay', backwards.spec]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/source\.from.*before.*source\.to|from.*must be before/i);

    const missing = job({ ...source, topic: 'no-such-topic-anywhere' });
    const r2 = await cli(['replay', missing.spec]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('source topic "no-such-topic-anywhere" does not exist');

    const badKey = job(source, { extra: 'colour: blue\n' });
    const r3 = await cli(['plan', badKey.spec]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('colour');

    const pastEnd = job(source, { from: JSON.stringify({ 0: 0 }), to: JSON.stringify({ 0: 999 }) });
    const r4 = await cli(['replay', pastEnd.spec]);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toContain('past the end');

    const after = (await admin.listTopics()).filter((t) => !before.has(t));
    expect(after).toEqual([]);
  });
});
