import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Catalog, withVersion } from '../../src/catalog/index.js';
import { parseSourceHeader, SOURCE_HEADER } from '../../src/core/source-header.js';
import { openDatasetReader, resolveLive, type DatasetReader, type ReaderRecord, type SwitchEvent } from '../../src/reader/index.js';
import { cli } from '../support/cli.js';
import { readAll } from '../support/consume.js';
import { cleanupDatasets, testKafka, unique, waitFor } from '../support/env.js';
import { createSource, makeEvents, T0, TRANSFORM_JS, writeJob, type JobDir, type Source } from '../support/replay-fixture.js';

describe('resolveLive', () => {
  const kafka = testKafka();

  it('names the live topic, null before the first promotion, and follows promote and rollback', async () => {
    const dataset = unique('live').replace(/-/g, '_');
    const catalog = new Catalog(kafka.client);
    await catalog.update(dataset, (r) => withVersion(withVersion(r, 1, { run: 'a', runState: 'completed' }), 2, { run: 'b', runState: 'completed', gate: 'passed' }));
    expect(await resolveLive(dataset, { kafka: kafka.client })).toBeNull();
    expect((await cli(['promote', dataset, '1'])).code).toBe(0);
    expect(await resolveLive(dataset, { kafka: kafka.client })).toEqual({ dataset, version: 1, topic: `${dataset}_v1` });
    expect((await cli(['promote', dataset, '2'])).code).toBe(0);
    expect((await resolveLive(dataset, { kafka: kafka.client }))?.topic).toBe(`${dataset}_v2`);
    expect((await cli(['rollback', dataset])).code).toBe(0);
    expect((await resolveLive(dataset, { kafka: kafka.client }))?.version).toBe(1);
  });
});

const HOUR = 3_600_000;
const EVENTS = 2000;
/** v3 drops about 1% of the records and changes one field of the rest: versions differ in content. */
const V3_TRANSFORM = TRANSFORM_JS.replace('return {', 'if (event.n % 100 === 7) return null;\n  return {').replace('amount_cents: Math.round(event.amount * 100)', 'amount_cents: Math.round(event.amount * 100) + 1');

interface Delivered {
  version: number;
  key: string;
  p: number;
  o: number;
}

/** Source positions ("p:o") of every record of a dataset topic. */
async function sourcePositions(client: Parameters<typeof readAll>[0], topic: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const records of (await readAll(client, topic)).values()) {
    for (const r of records) {
      const s = parseSourceHeader(r.headers[SOURCE_HEADER]);
      if (s) out.add(`${s.partition}:${s.offset}`);
    }
  }
  return out;
}

/**
 * The guarantee, checked on what a reader delivered across `phases` (the version read in each) and
 * the switches between them: a source position belongs to the last phase whose cut
 * (SwitchEvent.window deliveredThrough, unknown = -1) it lies beyond; if that phase's version holds
 * it, it was delivered (no gap). A position delivered twice lies in some switch's window (L, H].
 */
function checkGuarantee(delivered: Delivered[], phases: Set<string>[], switches: SwitchEvent[]): { duplicates: number } {
  const count = new Map<string, number>();
  for (const d of delivered) count.set(d.key, (count.get(d.key) ?? 0) + 1);
  const cut = (i: number, p: number): number => {
    const w = switches[i - 1]?.window.find((x) => x.sourcePartition === p);
    return i === 0 || !w?.deliveredThrough ? -1 : Number(w.deliveredThrough);
  };
  const union = new Set(phases.flatMap((s) => [...s]));
  const missing: string[] = [];
  for (const key of union) {
    const [p, o] = key.split(':').map(Number) as [number, number];
    let owner = 0;
    for (let i = 1; i <= switches.length; i++) if (o > cut(i, p)) owner = i;
    if (phases[owner]?.has(key) && !count.has(key)) missing.push(`${key} (phase ${owner})`);
  }
  expect(missing, 'source positions never delivered').toEqual([]);
  let duplicates = 0;
  for (const [key, n] of count) {
    if (n < 2) continue;
    duplicates += n - 1;
    const [p, o] = key.split(':').map(Number) as [number, number];
    const inWindow = switches.some((s) => {
      const w = s.window.find((x) => x.sourcePartition === p);
      const low = w?.deliveredThrough ? Number(w.deliveredThrough) : -1;
      return w?.possiblyThrough != null && o > low && o <= Number(w.possiblyThrough);
    });
    expect(inWindow, `${key} delivered ${n} times outside every duplicate window`).toBe(true);
  }
  return { duplicates };
}

describe('openDatasetReader: follows promotion and rollback', () => {
  const kafka = testKafka();
  const jobs: JobDir[] = [];
  const groups: string[] = [];
  let source: Source;
  let reader: DatasetReader | undefined;

  beforeAll(async () => {
    // Many users, so that every dataset partition holds records of every source partition.
    source = await createSource(kafka.client, makeEvents(EVENTS).map((e) => ({ ...e, userInt: (e.n * 7919) % 997 })), { partitions: 4 });
  });
  afterEach(async () => {
    await reader?.close();
    reader = undefined;
  });
  afterAll(async () => {
    await (await kafka.client.admin()).deleteGroups(groups).catch(() => undefined);
    await cleanupDatasets(kafka.client, jobs);
    await (await kafka.client.admin()).deleteTopics([source.topic]).catch(() => undefined);
  });

  /** v2 (plain transform, `v2To` hours of the window) and v3 (V3_TRANSFORM, whole window); v2 promoted. */
  async function build(v2To = EVENTS): Promise<{ dataset: string; s2: Set<string>; s3: Set<string> }> {
    const dataset = unique('rd').replace(/-/g, '_');
    const v2 = writeJob(source, { dataset, version: 2, to: new Date(T0 + v2To * HOUR).toISOString() });
    const v3 = writeJob(source, { dataset, version: 3, transform: V3_TRANSFORM });
    jobs.push(v2, v3);
    for (const j of [v2, v3]) {
      const r = await cli(['replay', j.spec, '--json']);
      expect(r.code, r.stderr).toBe(0);
    }
    const promoted = await cli(['promote', dataset, '2']);
    expect(promoted.code, promoted.stderr).toBe(0);
    // Each version names the topic it was replayed from and its partition count (what a reader needs at a switch).
    const record = await new Catalog(kafka.client).get(dataset);
    expect(record?.versions.map((v) => [v.version, v.source])).toEqual([[2, { topic: source.topic, partitions: 4 }], [3, { topic: source.topic, partitions: 4 }]]);
    return { dataset, s2: await sourcePositions(kafka.client, `${dataset}_v2`), s3: await sourcePositions(kafka.client, `${dataset}_v3`) };
  }

  function collector(): { delivered: Delivered[]; eachRecord(r: ReaderRecord): Promise<void>; delayMs: number } {
    const c = {
      delivered: [] as Delivered[],
      delayMs: 0,
      async eachRecord(r: ReaderRecord): Promise<void> {
        expect(r.source).not.toBeNull();
        expect(r.value).toMatchObject({ n: expect.any(Number), user_id: expect.any(String) });
        const p = Number(r.source?.partition);
        const o = Number(r.source?.offset);
        c.delivered.push({ version: r.version, key: `${p}:${o}`, p, o });
        if (c.delayMs) await new Promise((res) => setTimeout(res, c.delayMs));
      },
    };
    return c;
  }

  const settled = async (r: DatasetReader, version: number): Promise<void> => {
    await waitFor(`reader on v${version} and caught up`, async () => (r.live.version === version && (await r.lag()) === 0 ? true : undefined), 60_000);
  };

  it('switches mid-topic to v3 on promotion and back to v2 on rollback: no gap, repeats only in the documented window', async () => {
    const { dataset, s2, s3 } = await build();
    const groupId = unique('reader');
    groups.push(groupId);
    const c = collector();
    c.delayMs = 10;
    const switches: SwitchEvent[] = [];
    // Six hours of event time of margin: each switch starts on records delivered before it, so the
    // skip rule is certain to meet some (at no margin that depends on how the replays interleaved
    // source partitions in the sink; the caught-up test below runs at the default).
    // 500 records into v2 the reader may not yet have met a record of every source partition (the
    // replay writes a source partition's records into each dataset partition after another's, in
    // an order set by timing): it learns that there are 4 from the catalog, where the replays
    // recorded their source (without it, one run in four skipped records of source partition 3).
    const switchedAt: number[] = [];
    reader = await openDatasetReader({ dataset, groupId, eachRecord: c.eachRecord, onSwitch: (e) => (switches.push(e), switchedAt.push(c.delivered.length)), maxBytesPerPartition: 2048, switchMarginMs: 6 * HOUR });
    expect(reader.live).toEqual({ version: 2, topic: `${dataset}_v2` });

    await waitFor('500 records of v2', async () => (c.delivered.length >= 500 ? true : undefined));
    const forced = await cli(['promote', dataset, '3', '--force', '--reason', 'reader test']);
    expect(forced.code, forced.stderr).toBe(0);
    await waitFor('the switch to v3', async () => (switches.length === 1 ? true : undefined));
    const atFirst = c.delivered.length;
    await waitFor('400 records of v3', async () => (c.delivered.length >= atFirst + 400 ? true : undefined));
    expect((await cli(['rollback', dataset])).code).toBe(0);
    await waitFor('the switch back to v2', async () => (switches.length === 2 ? true : undefined));
    c.delayMs = 0;
    await settled(reader, 2);

    // Both switches happened while the reader was behind, mid-topic.
    expect(switches.map((s) => [s.from.version, s.to.version, s.mode, s.caughtUp])).toEqual([[2, 3, 'source', false], [3, 2, 'source', false]]);
    for (const s of switches) expect(s.startTimestamp).not.toBeNull();
    // Each phase delivered from the version live at the time.
    const versions = c.delivered.map((d) => d.version);
    expect(versions.indexOf(3)).toBeGreaterThan(0);
    expect(versions.lastIndexOf(3)).toBeLessThan(versions.length - 1);
    const { duplicates } = checkGuarantee(c.delivered, [s2, s3, s2], switches);
    expect(reader.stats()).toMatchObject({ delivered: c.delivered.length, switches: 2 });
    expect(reader.stats().duplicateWindow).toBeGreaterThanOrEqual(duplicates);
    // The skip rule: after each switch, nothing it names as delivered for certain (L[p]) comes again.
    // (How many records it skipped depends on how far the reader got before the next switch: with
    // L this low, the records at or below it may all lie beyond where it read.)
    switches.forEach((s, i) => {
      const after = c.delivered.slice(switchedAt[i], switchedAt[i + 1]);
      const again = after.filter((d) => d.o <= Number(s.window.find((w) => w.sourcePartition === d.p)?.deliveredThrough ?? -1));
      expect(again.map((d) => d.key), `delivered again after switch ${i + 1}`).toEqual([]);
    });
    // What was never delivered is exactly what v3 dropped, inside the stretch read from v3.
    const seen = new Set(c.delivered.map((d) => d.key));
    const never = [...s2].filter((k) => !seen.has(k));
    expect(never.every((k) => !s3.has(k))).toBe(true);
  });

  it('a caught-up reader switches with no duplicate and no gap, and resumes from its commits after a restart', async () => {
    const { dataset, s2, s3 } = await build(EVENTS * 0.6);
    const groupId = unique('reader');
    groups.push(groupId);
    const c = collector();
    const switches: SwitchEvent[] = [];
    const abort = new AbortController();
    reader = await openDatasetReader({ dataset, groupId, eachRecord: c.eachRecord, onSwitch: (e) => switches.push(e), signal: abort.signal });
    await settled(reader, 2);
    expect(c.delivered.length).toBe(s2.size);

    expect((await cli(['promote', dataset, '3', '--force', '--reason', 'reader test'])).code).toBe(0);
    await settled(reader, 3);
    // v3 goes further than v2: exactly its records beyond v2's last position per source partition.
    const last = new Map<number, number>();
    for (const k of s2) {
      const [p, o] = k.split(':').map(Number) as [number, number];
      last.set(p, Math.max(last.get(p) ?? -1, o));
    }
    const beyond = [...s3].filter((k) => {
      const [p, o] = k.split(':').map(Number) as [number, number];
      return o > (last.get(p) ?? -1);
    });
    expect(beyond.length).toBeGreaterThan(500);
    await waitFor('v3 records beyond v2', async () => (c.delivered.length === s2.size + beyond.length ? true : undefined));
    expect(c.delivered.slice(s2.size).map((d) => d.key).sort()).toEqual(beyond.sort());
    expect(c.delivered.slice(s2.size).every((d) => d.version === 3)).toBe(true);

    expect((await cli(['rollback', dataset])).code).toBe(0);
    await settled(reader, 2);
    expect(switches.map((s) => [s.from.version, s.to.version, s.caughtUp])).toEqual([[2, 3, true], [3, 2, true]]);
    expect(checkGuarantee(c.delivered, [s2, s3, s2], switches).duplicates).toBe(0);
    expect(new Set(c.delivered.map((d) => d.key)).size).toBe(c.delivered.length);
    expect(reader.stats()).toMatchObject({ delivered: c.delivered.length, duplicateWindow: 0, switches: 2 });
    // Each switch started at the earliest delivered record's time, so it met records it had delivered and skipped them.
    expect(reader.stats().skippedOnSwitch).toBeGreaterThan(0);

    // Closed by its signal; a new reader of the same group resumes from the committed offsets: nothing new.
    abort.abort();
    await reader.done;
    const again = collector();
    reader = await openDatasetReader({ dataset, groupId, eachRecord: again.eachRecord, decode: false });
    await settled(reader, 2);
    expect(again.delivered).toEqual([]);
    await reader.close();
    await reader.close();
  });

  it('refuses a dataset with no live version, and stops on an eachRecord error with the record uncommitted', async () => {
    await expect(openDatasetReader({ dataset: unique('nothing').replace(/-/g, '_'), groupId: unique('reader'), eachRecord: async () => undefined })).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' });
    const dataset = unique('rd').replace(/-/g, '_');
    const job = writeJob(source, { dataset, version: 2, to: new Date(T0 + 200 * HOUR).toISOString() });
    jobs.push(job);
    expect((await cli(['replay', job.spec, '--json'])).code).toBe(0);
    expect((await cli(['promote', dataset, '2'])).code).toBe(0);
    const groupId = unique('reader');
    groups.push(groupId);
    let calls = 0;
    let failed = '';
    reader = await openDatasetReader({
      dataset,
      groupId,
      eachRecord: async (r) => {
        if (++calls === 50) {
          failed = `${r.partition}:${r.offset}`;
          throw new Error('consumer bug');
        }
      },
    });
    await expect(reader.done).rejects.toThrow('consumer bug');
    // Restarted, the group gets the failed record again and everything after it, nothing before.
    const total = [...(await readAll(kafka.client, `${dataset}_v2`)).values()].reduce((n, l) => n + l.length, 0);
    const again: string[] = [];
    reader = await openDatasetReader({ dataset, groupId, decode: false, eachRecord: async (r) => void again.push(`${r.partition}:${r.offset}`) });
    await settled(reader, 2);
    expect(again).toContain(failed);
    expect(again.length).toBe(total - 49);
  });
});
