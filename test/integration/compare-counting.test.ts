// The comparison's counting threads (src/compare/counting.ts) against counting on the calling
// thread, and the apply script (compare_apply.lua) adding what they count to a real Redis.
import { afterAll, describe, expect, it } from 'vitest';
import { ReplyError } from 'ioredis';
import { explainReplyError, readAggregates } from '../../src/compare/aggregator.js';
import { BatchCounter, type BatchCounts } from '../../src/compare/counter.js';
import { startCounting, type Counting, type CountSchema } from '../../src/compare/counting.js';
import type { JobSpec } from '../../src/core/index.js';
import { ReprocessError } from '../../src/errors.js';
import { columnsOf } from '../../src/kafka/columns.js';
import type { ConsumedRecord } from '../../src/kafka/index.js';
import { connectRedisChecked } from '../../src/redis/index.js';
import { keys as redisKeys } from '../../src/redis/keys.js';
import { scripts } from '../../src/redis/scripts.js';
import { EVENT, SPEC, events, merged, reference } from '../unit/counting-fixture.js';
import { testEndpoints, unique } from '../support/env.js';

const SCHEMAS: CountSchema[] = [41, 42].map((id) => ({ id, schema: JSON.stringify(EVENT.schema()) }));
const sorted = (m: Map<string, number>): Map<string, number> => new Map([...m].sort());

describe('counting threads', () => {
  const started: Counting[] = [];
  afterAll(async () => {
    for (const c of started) await c.close();
  });
  const counting = async (threads: number, tableLimit?: number): Promise<Counting> => {
    const c = await startCounting({ spec: SPEC, options: tableLimit === undefined ? {} : { tableLimit } }, threads);
    started.push(c);
    c.install(SCHEMAS);
    return c;
  };

  it('count batches sent all at once exactly as the calling thread does, each answer its own batch', async () => {
    const threaded = await counting(2, 300);
    const inline = await counting(0, 300);
    const all = events(21, 12_000, 900);
    const batches: ConsumedRecord[][] = [];
    for (let from = 0; from < all.length; from += 700) batches.push(all.slice(from, from + 700));
    const answers = await Promise.all(batches.map((b, i) => threaded.count(columnsOf(b), 't', i % 3)));
    for (const [i, b] of batches.entries()) {
      const got = answers[i] as BatchCounts;
      // Redis's client sends a Buffer's bytes as they are (anything else as its text).
      expect(Buffer.isBuffer(got.keys)).toBe(true);
      const want = reference(SPEC, b);
      expect(sorted(merged(got).fields)).toEqual(sorted(want.fields));
      expect(sorted(merged(got).keys)).toEqual(sorted(want.keys));
      expect(got).toEqual(await inline.count(columnsOf(b), 't', i % 3));
    }
  });

  it('a record that cannot be decoded fails its batch with the topic, partition and offset; the thread goes on', async () => {
    const threaded = await counting(1);
    const batch = events(4, 50, 10);
    const broken = [...batch.slice(0, 20), { ...(batch[20] as ConsumedRecord), value: (batch[20]?.value as Buffer).subarray(0, 9) }, ...batch.slice(21)];
    const [failed, next] = await Promise.allSettled([threaded.count(columnsOf(broken), 'events_v3', 2), threaded.count(columnsOf(batch), 'events_v3', 2)]);
    expect(failed.status).toBe('rejected');
    const err = (failed as PromiseRejectedResult).reason as ReprocessError;
    expect(err).toBeInstanceOf(ReprocessError);
    expect(err.code).toBe('DECODE_FAILED');
    expect(err.message).toContain('events_v3 partition 2 offset 20');
    expect(err.context).toMatchObject({ topic: 'events_v3', partition: 2, offset: '20' });
    expect(next.status).toBe('fulfilled');
    expect(sorted(merged((next as PromiseFulfilledResult<BatchCounts>).value).fields)).toEqual(sorted(reference(SPEC, batch).fields));
  });

  it('a thread that cannot load a schema stops: its failure says why, and every batch sent to it fails with it', async () => {
    const threaded = await counting(1);
    expect(threaded.failure).toBeNull();
    threaded.install([{ id: 43, schema: '{"type": "record", "name": ' }]);
    const err = await threaded.count(columnsOf(events(1, 5, 5)), 't', 0).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(threaded.failure).toBe(err);
    expect((err as Error).message).toMatch(/JSON/);
    await expect(threaded.count(columnsOf(events(2, 5, 5)), 't', 0)).rejects.toBe(err);
  });

  it('refuse to count once closed', async () => {
    const threaded = await counting(1);
    await threaded.close();
    await expect(threaded.count(columnsOf(events(1, 5, 5)), 't', 0)).rejects.toThrow(/closed/);
  });
});

describe('the apply script', () => {
  it('adds a batch’s counters and packed record keys once, and refuses the batch sent again', async () => {
    const redis = await connectRedisChecked(testEndpoints().redis);
    const id = unique('apply');
    const hashes = [redisKeys.compareCounters(id, 'candidate'), redisKeys.compareKeys(id, 'candidate'), redisKeys.compareOffsets(id)];
    try {
      await scripts.compareApply.load(redis);
      const spec = SPEC;
      const counter = new BatchCounter(spec);
      const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
      // Keys that are not UTF-8, empty, null, long, or hold ':' and ',' (counting-fixture.ts).
      const all = events(8, 3000, 400);
      // What Redis holds after both batches: each batch's counters added up (a sum's whole units
      // and millionths are split per batch, and each field is added as sent).
      const want = { fields: new Map<string, number>(), keys: reference(spec, all).keys };
      for (const part of [all.slice(0, 1700), all.slice(1700)]) for (const [f, n] of reference(spec, part).fields) want.fields.set(f, (want.fields.get(f) ?? 0) + n);
      const apply = (c: BatchCounts, from: number, next: number): Promise<unknown> =>
        scripts.compareApply.run(redis, hashes, ['t:0', String(from), String(next), c.fields.size, ...[...c.fields].flat(), ...(c.keys.length > 0 ? [c.keys] : [])]);
      const first = counter.count(columnsOf(all.slice(0, 1700)), readers, 't', 0);
      const second = counter.count(columnsOf(all.slice(1700)), readers, 't', 0);
      expect(await apply(first, 0, 1700)).toBe(1);
      expect(await apply(first, 0, 1700)).toBe(0);
      expect(await apply(second, 1700, 3000)).toBe(1);
      expect(await redis.hget(hashes[2] as string, 't:0')).toBe('3000');
      const numbers = (h: Record<string, string>): Map<string, number> => sorted(new Map(Object.entries(h).map(([k, v]) => [k, Number(v)])));
      expect(numbers(await redis.hgetall(hashes[1] as string))).toEqual(sorted(want.keys));
      expect(numbers(await redis.hgetall(hashes[0] as string))).toEqual(sorted(want.fields));
      // A stretch of only transaction markers: the offset moves, nothing else.
      expect(await scripts.compareApply.run(redis, hashes, ['t:0', '3000', '3002', 0])).toBe(1);
      expect(await redis.hget(hashes[2] as string, 't:0')).toBe('3002');
      // A sum past what Redis adds exactly: the whole batch refused, nothing of it applied (the
      // sum field comes after others in the batch), the offset unmoved, and said so.
      const sumFields = [...second.fields.keys()].filter((f) => f.startsWith('su\x1f'));
      const sumField = sumFields[sumFields.length - 1] as string;
      expect([...second.fields.keys()].indexOf(sumField)).toBeGreaterThan(0);
      await redis.hset(hashes[0] as string, sumField, '9223372036854775000');
      const before = [await redis.hgetall(hashes[0] as string), await redis.hgetall(hashes[1] as string)];
      const refused = await apply(second, 3002, 4302).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(ReplyError);
      expect((refused as Error).message).toBe(`ERR increment or decrement would overflow: ${sumField}`);
      expect([await redis.hgetall(hashes[0] as string), await redis.hgetall(hashes[1] as string)]).toEqual(before);
      expect(await redis.hget(hashes[2] as string, 't:0')).toBe('3002');
      const explained = explainReplyError(refused as Error, 'candidate');
      expect(explained).toMatchObject({ code: 'SPEC_INVALID' });
      expect(explained.message).toContain("a measure's sum in the candidate version passed what Redis adds exactly");
      // Short of the limit it adds as before; a large negative sum is refused the same way.
      await redis.hset(hashes[0] as string, sumField, '-9223372036854775000');
      await expect(apply(second, 3002, 4302)).rejects.toThrow(`ERR increment or decrement would overflow: ${sumField}`);
      // A total past what one field of millionths held (±9.2 × 10^12 units): whole units go on.
      await redis.hset(hashes[0] as string, sumField, '9000000000000000');
      expect(await apply(second, 3002, 4302)).toBe(1);
      expect(BigInt(await redis.hget(hashes[0] as string, sumField) ?? '')).toBe(9000000000000000n + BigInt(second.fields.get(sumField) as number));
    } finally {
      await redis.del(...hashes);
      redis.disconnect();
    }
  });

  it('reads a sum back from its whole units and millionths, past what one field of millionths held; refuses counters of the earlier form', async () => {
    const redis = await connectRedisChecked(testEndpoints().redis);
    const id = unique('sums');
    const live = redisKeys.compareCounters(id, 'live');
    const candidate = redisKeys.compareCounters(id, 'candidate');
    const spec = { validate: { nulls: [], measures: ['revenue'], dimensions: ['country'] } } as unknown as JobSpec;
    try {
      await redis.hset(live, {
        count: '3',
        'su\x1frevenue': '9000000000000', 'sm\x1frevenue': '-250000',
        'd\x1fcountry\x1fBR\x1fcount': '3', 'd\x1fcountry\x1fBR\x1fsu\x1frevenue': '2', 'd\x1fcountry\x1fBR\x1fsm\x1frevenue': '1500000',
      });
      const read = await readAggregates(redis, id, spec);
      expect(read.live.sums.revenue).toBe(8_999_999_999_999.75);
      expect(read.live.dimensions.country?.BR).toEqual({ count: 3, sums: { revenue: 3.5 } });
      expect(read.candidate.sums.revenue).toBe(0);
      // A comparison counted by a release that kept one field of millionths is not misread.
      await redis.hset(candidate, 's\x1frevenue', '1500000');
      const err = await readAggregates(redis, id, spec).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ReprocessError);
      expect(err).toMatchObject({ code: 'SPEC_INVALID' });
      expect((err as Error).message).toBe(`comparison ${id} was counted by an earlier release of reprocess, which kept measure sums in another form.`);
    } finally {
      await redis.del(live, candidate);
      redis.disconnect();
    }
  });
});
