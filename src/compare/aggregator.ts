import avro from 'avsc';
import type { Redis } from 'ioredis';
import { WIRE_HEADER_BYTES, decodeWireHeader, wireSchemaIdAt, type JobSpec } from '../core/index.js';
import { ReprocessError, errorMessage } from '../errors.js';
import type { ConsumedBatch, KafkaClient, RecordColumns } from '../kafka/index.js';
import { columnsOf, columnsWithin, offsetAt, offsetTextAt } from '../kafka/columns.js';
import { chunkFacts } from '../replay/codec.js';
import type { Logger } from '../log.js';
import { keys as redisKeys } from '../redis/keys.js';
import { scripts } from '../redis/scripts.js';
import type { RegistryClient } from '../registry/index.js';
import { sleep } from '../util/sleep.js';
import { utf8Text } from '../replay/avro-read.js';
import { projection, type Projection } from './projection.js';
import { NULL_DIMENSION_VALUE, bucketOf, type KeyStats, type SideAggregate } from './core/index.js';

export type Side = 'live' | 'candidate';

/** Field names in a side's counter hash; the unit separator keeps data values from colliding. */
const SEP = '\x1f';
const MICRO = 1_000_000;

/** The counter field holding a bucket's record count. */
export function bucketField(bucketStart: number): string {
  return `b${SEP}${bucketStart}`;
}

export interface AggregateOptions {
  spec: JobSpec;
  compareId: string;
  liveVersion: number;
  kafka: KafkaClient;
  registry: RegistryClient;
  redis: Redis;
  logger: Logger;
  signal?: AbortSignal;
  /** Keep reading the candidate while its run writes it; finish once the run completed and was read to its end. */
  follow?: () => Promise<boolean>;
  onProgress?: (read: number) => void;
  /** Records applied per side (for metrics). */
  onRecords?: (side: Side, records: number) => void;
}

export interface Aggregates {
  live: SideAggregate;
  candidate: SideAggregate;
  keys: KeyStats;
  window: { from: string; to: string };
}

interface Counters {
  fields: Map<string, number>;
  keys: Map<string, number>;
}

/** One dimension value's field names, and what the batch `batch` added to them. */
interface DimensionCounter {
  count: string;
  sums: string[];
  batch: number;
  n: number;
  s: number[];
  summed: boolean[];
}


function topicOf(spec: JobSpec, version: number): string {
  return `${spec.dataset}_v${version}`;
}

/**
 * Reads both versions over the job's window (by record timestamp) and accumulates exact counts
 * and sums in Redis. Each batch's counters and the partition's next offset are applied in one Lua
 * call that refuses a batch it has already applied, so several aggregators can share the work
 * (one consumer group) and a restarted one continues without counting anything twice.
 */
export async function aggregate(o: AggregateOptions): Promise<Aggregates> {
  const { spec, kafka, redis } = o;
  const v = spec.validate;
  const admin = await kafka.admin();
  const sides: Record<Side, string> = { live: topicOf(spec, o.liveVersion), candidate: spec.sinkTopic };
  // A sidecar may start before the replay created its topic: wait for it.
  while (o.follow && !(await admin.topicExists(sides.candidate)) && !o.signal?.aborted) await sleep(500, o.signal);
  for (const [side, topic] of Object.entries(sides)) {
    if (!(await admin.topicExists(topic))) {
      throw new ReprocessError('SOURCE_MISSING', `the ${side} version's topic ${topic} does not exist.`, {
        hint: side === 'candidate' ? `Replay it first: reprocess replay ${spec.specPath ?? '<job.yaml>'}` : 'Check validate.against, or the live version in `reprocess datasets`.',
        context: { topic },
      });
    }
  }
  const fromMs = spec.window.kind === 'time' ? spec.window.fromMs : -Infinity;
  const toMs = spec.window.kind === 'time' ? spec.window.toMs : Infinity;
  const window = spec.window.kind === 'time'
    ? { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() }
    : { from: 'beginning', to: 'end' };

  // End offsets are fixed on the first start and kept in Redis, so a restarted aggregator reads
  // exactly what an uninterrupted one would have.
  const metaKey = redisKeys.compare(o.compareId);
  const ends = new Map<string, bigint>();
  const refreshEnds = async (topics: string[]): Promise<void> => {
    for (const topic of topics) for (const m of await admin.watermarks(topic)) ends.set(`${topic}:${m.partition}`, BigInt(m.high));
  };
  const stored = await redis.hgetall(metaKey);
  if (stored.ends && !o.follow) {
    for (const [k, val] of Object.entries(JSON.parse(stored.ends) as Record<string, string>)) ends.set(k, BigInt(val));
  } else {
    await refreshEnds([sides.live, sides.candidate]);
    if (!o.follow) await redis.hset(metaKey, { ends: JSON.stringify(Object.fromEntries([...ends].map(([k, val]) => [k, val.toString()]))), liveVersion: String(o.liveVersion), candidateVersion: String(spec.version), startedAt: new Date().toISOString() });
  }

  const offsetsKey = redisKeys.compareOffsets(o.compareId);
  const positions = async (): Promise<Map<string, bigint>> => new Map(Object.entries(await redis.hgetall(offsetsKey)).map(([k, val]) => [k, BigInt(val)]));
  const finished = async (): Promise<boolean> => {
    const pos = await positions();
    return [...ends].every(([k, end]) => (pos.get(k) ?? 0n) >= end);
  };

  // Only the fields the comparison looks at are decoded; the others are skipped.
  const wanted = [...new Set([...v.dimensions, ...v.measures, ...v.nulls])];
  const readers = new Map<number, Projection>();
  const readerFor = async (id: number): Promise<Projection> => {
    let r = readers.get(id);
    if (!r) {
      const writer = avro.Type.forSchema(JSON.parse((await o.registry.getSchema(id)).schema) as avro.Schema, { wrapUnions: false });
      r = projection(writer, wanted);
      readers.set(id, r);
    }
    return r;
  };

  // Field names, made once per field and dimension value rather than once per record.
  const nullFields = v.nulls.map((f) => `n${SEP}${f}`);
  const sumFields = v.measures.map((m) => `s${SEP}${m}`);
  // Per dimension, per value: its field names and what the batch being read added to them.
  const dimensionValues = v.dimensions.map(() => new Map<string, DimensionCounter>());
  const dimensionCounter = (di: number, dv: string): DimensionCounter => {
    const byValue = dimensionValues[di] as Map<string, DimensionCounter>;
    let dc = byValue.get(dv);
    if (!dc) {
      const d = v.dimensions[di] as string;
      dc = { count: `d${SEP}${d}${SEP}${dv}${SEP}count`, sums: v.measures.map((m) => `d${SEP}${d}${SEP}${dv}${SEP}s${SEP}${m}`), batch: 0, n: 0, s: v.measures.map(() => 0), summed: v.measures.map(() => false) };
      byValue.set(dv, dc);
    }
    return dc;
  };
  let batchSeq = 0;

  // Records of a batch mostly share their bucket: its field name is made when it changes.
  let lastBucket = Number.NaN;
  let lastBucketField = '';

  const count = (c: Counters, field: string, n: number): void => {
    c.fields.set(field, (c.fields.get(field) ?? 0) + n);
  };

  /**
   * A batch's counters. Synchronous from start to end (every schema is loaded before), so the
   * dimension counters it adds to in place belong to it alone while it runs.
   */
  const countBatch = (batch: ConsumedBatch, records: RecordColumns): Counters => {
    const c: Counters = { fields: new Map(), keys: new Map() };
    const seq = ++batchSeq;
    const touched: DimensionCounter[] = [];
    const measures = v.measures.length;
    const nulls = v.nulls.map(() => 0);
    const sums = v.measures.map(() => 0);
    const summed = v.measures.map(() => false);
    const x = new Array<number>(measures);
    let total = 0;
    let bucketCount = 0;
    const flushBucket = (): void => {
      if (bucketCount > 0) count(c, lastBucketField, bucketCount);
      bucketCount = 0;
    };
    const { buffer, index, timestamps } = records;
    for (let n = 0; n < records.length; n++) {
      // Read where the record lies: no Buffer for its key or value.
      const t = timestamps[n] as number | string;
      const ts = typeof t === 'number' ? t : Number(t);
      if (ts < fromMs || ts >= toMs) continue;
      const keyStart = index[n * 4] as number;
      const keyLength = index[n * 4 + 1] as number;
      const valueStart = index[n * 4 + 2] as number;
      const valueLength = index[n * 4 + 3] as number;
      let value: Record<string, unknown>;
      try {
        // A value not in the wire format: decodeWireHeader throws, saying what is wrong with it.
        const id = wireSchemaIdAt(buffer, valueStart, valueLength) ?? decodeWireHeader(valueLength < 0 ? null : buffer.subarray(valueStart, valueStart + valueLength)).schemaId;
        value = (readers.get(id) as Projection).readAt(buffer, valueStart + WIRE_HEADER_BYTES, valueStart + valueLength);
      } catch (err) {
        const offset = offsetTextAt(records, n);
        throw new ReprocessError('DECODE_FAILED', `cannot decode ${batch.topic} partition ${batch.partition} offset ${offset}: ${errorMessage(err)}`, { cause: err, context: { topic: batch.topic, partition: batch.partition, offset } });
      }
      total++;
      const bucket = bucketOf(ts, v.bucketMs);
      if (bucket !== lastBucket) {
        flushBucket();
        lastBucket = bucket;
        lastBucketField = bucketField(bucket);
      }
      bucketCount++;
      for (let i = 0; i < nulls.length; i++) {
        const f = value[v.nulls[i] as string];
        if (f === null || f === undefined) nulls[i] = (nulls[i] as number) + 1;
      }
      for (let i = 0; i < measures; i++) {
        const m = value[v.measures[i] as string];
        // Sums are kept in millionths, as integers.
        x[i] = typeof m === 'number' && Number.isFinite(m) ? Math.round(m * MICRO) : Number.NaN;
        if (!Number.isNaN(x[i])) {
          sums[i] = (sums[i] as number) + (x[i] as number);
          summed[i] = true;
        }
      }
      for (let di = 0; di < dimensionValues.length; di++) {
        const raw = value[v.dimensions[di] as string];
        const dc = dimensionCounter(di, raw === null || raw === undefined ? NULL_DIMENSION_VALUE : String(raw));
        if (dc.batch !== seq) {
          dc.batch = seq;
          dc.n = 0;
          dc.s.fill(0);
          dc.summed.fill(false);
          touched.push(dc);
        }
        dc.n++;
        for (let i = 0; i < measures; i++) {
          if (Number.isNaN(x[i])) continue;
          dc.s[i] = (dc.s[i] as number) + (x[i] as number);
          dc.summed[i] = true;
        }
      }
      const key = keyLength < 0 ? NULL_DIMENSION_VALUE : utf8Text(buffer, keyStart, keyStart + keyLength);
      c.keys.set(key, (c.keys.get(key) ?? 0) + 1);
    }
    flushBucket();
    if (total > 0) count(c, 'count', total);
    for (let i = 0; i < nulls.length; i++) if ((nulls[i] as number) > 0) count(c, nullFields[i] as string, nulls[i] as number);
    for (let i = 0; i < measures; i++) if (summed[i]) count(c, sumFields[i] as string, sums[i] as number);
    for (const dc of touched) {
      count(c, dc.count, dc.n);
      for (let i = 0; i < measures; i++) if (dc.summed[i]) count(c, dc.sums[i] as string, dc.s[i] as number);
    }
    return c;
  };
  let read = 0;
  const sideOf = (topic: string): Side => (topic === sides.live ? 'live' : 'candidate');

  // Every partition's batch at once: one's Redis call overlaps the others' decoding, and the next
  // batches are fetched meanwhile. Each batch's counters and its partition's offset are applied
  // together, so partitions are independent.
  const partitions = (await admin.partitionCount(sides.live)) + (await admin.partitionCount(sides.candidate));
  const consumer = await kafka.consumer({ groupId: `reprocess-compare-${o.compareId}`, readCommitted: true, autoCommit: false, fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, partitionsConcurrently: Math.min(64, partitions), fetchAhead: true, rawRecords: true });
  let failure: unknown = null;
  try {
    await consumer.subscribe([sides.live, sides.candidate]);
    await consumer.run({
      onBatch: async (batch, ctx) => {
        try {
          const pk = `${batch.topic}:${batch.partition}`;
          const at = BigInt((await redis.hget(offsetsKey, pk)) ?? '0');
          const all = batch.columns ?? columnsOf(batch.records);
          if (all.length > 0 && offsetAt(all, all.length - 1) < at) {
            consumer.seek(batch.topic, batch.partition, at.toString());
            return;
          }
          const end = o.follow ? BigInt(batch.nextOffset) : (ends.get(pk) ?? 0n);
          const records = columnsWithin(all, at, end);
          // The writer schemas of the batch, loaded before counting (which then runs without a pause).
          for (const id of chunkFacts(records).schemaIds) if (!readers.has(id)) await readerFor(id);
          const c = countBatch(batch, records);
          const next = BigInt(batch.nextOffset) < end ? BigInt(batch.nextOffset) : end;
          if (!o.follow && next >= end) consumer.pause(batch.topic, [batch.partition]);
          if (next <= at) return;
          const side = sideOf(batch.topic);
          const args: (string | number)[] = [pk, at.toString(), next.toString(), c.fields.size];
          for (const [f, n] of c.fields) args.push(f, n);
          for (const [k, n] of c.keys) args.push(k, n);
          await scripts.compareApply.run(redis, [redisKeys.compareCounters(o.compareId, side), redisKeys.compareKeys(o.compareId, side), offsetsKey], args);
          read += records.length;
          o.onProgress?.(read);
          o.onRecords?.(side, records.length);
          await ctx.heartbeat();
        } catch (err) {
          // The consumer has moved past this batch (it fetches ahead): read it again, once the
          // consumer has dealt with the error.
          consumer.seek(batch.topic, batch.partition, batch.fetchedOffset);
          throw err;
        }
      },
      // A stretch of only transaction markers (an EOS-written topic ends with one) moves the offset.
      onSkipped: (topic, partition, from, nextOffset) => {
        const pk = `${topic}:${partition}`;
        const end = o.follow ? BigInt(nextOffset) : (ends.get(pk) ?? 0n);
        const next = BigInt(nextOffset) < end ? BigInt(nextOffset) : end;
        if (next <= BigInt(from)) return;
        const side = sideOf(topic);
        scripts.compareApply
          .run(redis, [redisKeys.compareCounters(o.compareId, side), redisKeys.compareKeys(o.compareId, side), offsetsKey], [pk, from, next.toString(), 0])
          .catch((err: unknown) => {
            failure ??= err;
          });
      },
      onCrash: (err, willRestart) => {
        if (!willRestart) failure ??= err;
      },
    });
    for (;;) {
      if (failure) throw failure;
      if (o.signal?.aborted) throw new ReprocessError('ABORTED', 'comparison stopped; run it again with the same --run-id to continue.');
      if (o.follow) {
        const runDone = await o.follow();
        await refreshEnds([sides.live, sides.candidate]);
        if (runDone && (await finished())) break;
      } else if (await finished()) {
        break;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await consumer.close().catch(() => undefined);
    await admin.deleteGroups([`reprocess-compare-${o.compareId}`]).catch(() => undefined);
  }

  const { live, candidate } = await readAggregates(redis, o.compareId, spec);
  const keyStats = await readKeyStats(redis, o.compareId);
  return { live, candidate, keys: keyStats, window };
}

/** Both sides' counters as they stand (a partial comparison while it runs). */
export async function readAggregates(redis: Redis, compareId: string, spec: JobSpec): Promise<{ live: SideAggregate; candidate: SideAggregate }> {
  return { live: await readSide(redis, compareId, 'live', spec), candidate: await readSide(redis, compareId, 'candidate', spec) };
}

async function readSide(redis: Redis, compareId: string, side: Side, spec: JobSpec): Promise<SideAggregate> {
  const h = await redis.hgetall(redisKeys.compareCounters(compareId, side));
  const agg: SideAggregate = { count: 0, buckets: {}, nulls: {}, dimensions: {}, sums: {} };
  for (const f of spec.validate.nulls) agg.nulls[f] = 0;
  for (const m of spec.validate.measures) agg.sums[m] = 0;
  for (const d of spec.validate.dimensions) agg.dimensions[d] = {};
  for (const [field, raw] of Object.entries(h)) {
    const n = Number(raw);
    const parts = field.split(SEP);
    if (field === 'count') agg.count = n;
    else if (parts[0] === 'b' && parts[1] !== undefined) agg.buckets[parts[1]] = n;
    else if (parts[0] === 'n' && parts[1] !== undefined) agg.nulls[parts[1]] = n;
    else if (parts[0] === 's' && parts[1] !== undefined) agg.sums[parts[1]] = n / MICRO;
    else if (parts[0] === 'd' && parts.length >= 4) {
      const [, dim = '', value = ''] = parts;
      const dimension = (agg.dimensions[dim] ??= {});
      const entry = (dimension[value] ??= { count: 0, sums: Object.fromEntries(spec.validate.measures.map((m) => [m, 0])) });
      if (parts[3] === 'count') entry.count = n;
      else if (parts[3] === 's' && parts[4] !== undefined) entry.sums[parts[4]] = n / MICRO;
    }
  }
  return agg;
}

const HISTOGRAM_RANGE = 5;

async function readKeyStats(redis: Redis, compareId: string): Promise<KeyStats> {
  const live = await redis.hgetall(redisKeys.compareKeys(compareId, 'live'));
  const cand = await redis.hgetall(redisKeys.compareKeys(compareId, 'candidate'));
  const stats: KeyStats = {
    distinctLive: Object.keys(live).length,
    distinctCandidate: Object.keys(cand).length,
    onlyInLive: 0,
    onlyInCandidate: 0,
    inBoth: 0,
    countMismatch: 0,
    deltaHistogram: {},
    examples: { onlyInLive: [], onlyInCandidate: [], countMismatch: [] },
  };
  const bump = (delta: number): void => {
    const label = delta <= -(HISTOGRAM_RANGE + 1) ? `<=-${HISTOGRAM_RANGE + 1}` : delta >= HISTOGRAM_RANGE + 1 ? `>=${HISTOGRAM_RANGE + 1}` : String(delta);
    stats.deltaHistogram[label] = (stats.deltaHistogram[label] ?? 0) + 1;
  };
  const example = (list: string[], k: string): void => {
    if (list.length < 10) list.push(k);
  };
  for (const [k, raw] of Object.entries(live)) {
    const l = Number(raw);
    const cRaw = cand[k];
    if (cRaw === undefined) {
      stats.onlyInLive++;
      example(stats.examples.onlyInLive, k);
      bump(-l);
      continue;
    }
    stats.inBoth++;
    const c = Number(cRaw);
    if (c !== l) {
      stats.countMismatch++;
      example(stats.examples.countMismatch, k);
    }
    bump(c - l);
  }
  for (const [k, raw] of Object.entries(cand)) {
    if (live[k] !== undefined) continue;
    stats.onlyInCandidate++;
    example(stats.examples.onlyInCandidate, k);
    bump(Number(raw));
  }
  return stats;
}

/** Deletes a comparison's state (for a fresh start under the same id). */
export async function resetComparison(redis: Redis, compareId: string): Promise<void> {
  await redis.del(
    redisKeys.compare(compareId),
    redisKeys.compareOffsets(compareId),
    ...(['live', 'candidate'] as const).flatMap((s) => [redisKeys.compareCounters(compareId, s), redisKeys.compareKeys(compareId, s)]),
  );
}
