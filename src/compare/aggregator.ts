import { ReplyError, type Redis } from 'ioredis';
import type { JobSpec } from '../core/index.js';
import { ReprocessError, isReprocessError } from '../errors.js';
import type { KafkaClient } from '../kafka/index.js';
import { columnsOf, columnsWithin, offsetAt } from '../kafka/columns.js';
import { chunkFacts } from '../replay/codec.js';
import type { Logger } from '../log.js';
import { keys as redisKeys } from '../redis/keys.js';
import { scripts } from '../redis/scripts.js';
import type { RegistryClient } from '../registry/index.js';
import { sleep } from '../util/sleep.js';
import { checkThreads } from '../util/threads.js';
import type { KeyStats, SideAggregate } from './core/index.js';
import { MICRO, SEP, SUM_MILLIONTHS, SUM_UNITS, type BatchCounts } from './counter.js';
import { defaultCountingThreads, startCounting, type Counting, type CountSchema } from './counting.js';

/** Batches sent to Redis and not yet answered, at most (per aggregator). */
const MAX_APPLYING = 8;

export type Side = 'live' | 'candidate';

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
  /** Threads that count records beside the one that fetches them and talks to Redis (counting.ts; default defaultCountingThreads()). */
  threads?: number;
}

export interface Aggregates {
  live: SideAggregate;
  candidate: SideAggregate;
  keys: KeyStats;
  window: { from: string; to: string };
}

/** Redis refusing an increment: a measure's sum past what it adds exactly (a 64-bit integer of millionths). */
export function explainReplyError(err: Error, side: Side): Error {
  if (!/overflow|not an integer/i.test(err.message)) return err;
  return new ReprocessError('SPEC_INVALID', `a measure's sum in the ${side} version passed what Redis adds exactly (±9.2 × 10^18 whole units, a 64-bit integer): ${err.message}`, {
    hint: 'Compare the measure in a larger unit (a transform field in thousands, say), or leave it out of validate.measures.',
    cause: err,
  });
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
  const threads = checkThreads(o.threads ?? defaultCountingThreads(), 'Use 0 to count on the main thread, 1 (the default on a multi-core machine) or more.');
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

  let read = 0;
  const sideOf = (topic: string): Side => (topic === sides.live ? 'live' : 'candidate');

  // Every partition's batch at once, and the next batches fetched meanwhile. A batch is counted on
  // a counting thread while this one fetches, and sends counts to Redis (counting.ts). Each batch's
  // counters and its partition's offset are applied together, so partitions are independent; a
  // batch is sent to Redis and the next one counted without waiting for the reply (one connection
  // keeps them in order), up to MAX_APPLYING at a time.
  const partitions = (await admin.partitionCount(sides.live)) + (await admin.partitionCount(sides.candidate));
  // Only the fields the comparison looks at are read; the others are stepped over. The counting
  // threads load while the consumer joins its group.
  const countingReady = startCounting({ spec: { dimensions: v.dimensions, measures: v.measures, nulls: v.nulls, bucketMs: v.bucketMs, fromMs, toMs }, options: {} }, threads);
  const closeCounting = (): Promise<void> => countingReady.then((c) => c.close(), () => undefined);
  let failure: unknown = null;
  const started: { counting: Counting | null } = { counting: null };
  countingReady.then(
    (c) => (started.counting = c),
    (err: unknown) => (failure ??= err),
  );
  const consumer = await kafka.consumer({ groupId: `reprocess-compare-${o.compareId}`, readCommitted: true, autoCommit: false, fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, partitionsConcurrently: Math.min(64, partitions), fetchAhead: true, overlapRounds: true, rawRecords: true }).catch(async (err: unknown) => {
    await closeCounting();
    throw err;
  });
  // Per partition, the offset after the last batch this aggregator sent: where its next batch
  // continues without asking Redis. Dropped when an apply is refused or fails.
  const sent = new Map<string, bigint>();
  const applying = new Set<Promise<void>>();
  /** Ends the wait between two looks at whether every partition was read to its end. */
  let wake: (() => void) | null = null;
  const apply = (topic: string, partition: number, from: bigint, next: bigint, c: BatchCounts | null, records: number): void => {
    const pk = `${topic}:${partition}`;
    const side = sideOf(topic);
    const args: (string | number | Buffer)[] = [pk, from.toString(), next.toString(), c?.fields.size ?? 0];
    if (c) {
      for (const [f, n] of c.fields) args.push(f, n);
      if (c.keys.length > 0) args.push(c.keys);
    }
    sent.set(pk, next);
    const done = scripts.compareApply.run(redis, [redisKeys.compareCounters(o.compareId, side), redisKeys.compareKeys(o.compareId, side), offsetsKey], args).then(
      (applied) => {
        if (applied === 1) {
          if (next >= (ends.get(pk) ?? 0n)) wake?.();
          read += records;
          if (records > 0) {
            o.onProgress?.(read);
            o.onRecords?.(side, records);
          }
          return;
        }
        // Refused: Redis holds another offset for the partition (another aggregator applied this
        // batch, or one of ours before it failed). Its next batch asks Redis where to go on.
        if (sent.get(pk) === next) sent.delete(pk);
      },
      (err: unknown) => {
        sent.delete(pk);
        // Redis answered with an error (the script failed): reading again would not help. Else
        // the connection failed: unknown whether it was applied, so the partition is read again
        // from this batch, and its next batch asks Redis where it stands (as a batch handler that
        // fails does, once the consumer has dealt with that failure).
        if (err instanceof ReplyError) failure ??= explainReplyError(err as Error, side);
        else consumer.seek(topic, partition, from.toString());
      },
    );
    applying.add(done);
    void done.finally(() => applying.delete(done));
  };
  const schemas = new Map<number, Promise<void>>();
  const schemaFor = (id: number): Promise<void> => {
    let loaded = schemas.get(id);
    if (!loaded) {
      loaded = Promise.all([countingReady, o.registry.getSchema(id)]).then(([counting, s]) => counting.install([{ id, schema: s.schema } satisfies CountSchema]));
      // A failed lookup is asked again by the next batch that needs it.
      loaded.catch(() => schemas.delete(id));
      schemas.set(id, loaded);
    }
    return loaded;
  };
  try {
    await scripts.compareApply.load(redis);
    await consumer.subscribe([sides.live, sides.candidate]);
    await consumer.run({
      onBatch: async (batch, ctx) => {
        try {
          const pk = `${batch.topic}:${batch.partition}`;
          const fetchedFrom = BigInt(batch.fetchedOffset);
          let at = sent.get(pk);
          if (at !== fetchedFrom) {
            // Not the continuation of what this aggregator sent: Redis says where the partition
            // stands (asked after every apply already sent, so it includes them).
            at = BigInt((await redis.hget(offsetsKey, pk)) ?? '0');
            sent.delete(pk);
            // Records between the stored offset and this batch were not read: read them first.
            if (fetchedFrom > at) {
              consumer.seek(batch.topic, batch.partition, at.toString());
              return;
            }
          }
          const all = batch.columns ?? columnsOf(batch.records);
          if (all.length > 0 && offsetAt(all, all.length - 1) < at) {
            consumer.seek(batch.topic, batch.partition, at.toString());
            return;
          }
          const end = o.follow ? BigInt(batch.nextOffset) : (ends.get(pk) ?? 0n);
          const records = columnsWithin(all, at, end);
          // The writer schemas of the batch, loaded before counting (which then runs without a pause).
          for (const id of chunkFacts(records).schemaIds) await schemaFor(id);
          const c = await (await countingReady).count(records, batch.topic, batch.partition);
          const next = BigInt(batch.nextOffset) < end ? BigInt(batch.nextOffset) : end;
          if (!o.follow && next >= end) consumer.pause(batch.topic, [batch.partition]);
          if (next <= at) return;
          apply(batch.topic, batch.partition, at, next, c, records.length);
          while (applying.size >= MAX_APPLYING && !failure) await Promise.race(applying);
          await ctx.heartbeat();
        } catch (err) {
          // What the records hold (a record that cannot be decoded, a measure too large to sum)
          // fails the same way every time: the comparison stops with it.
          if (isReprocessError(err, 'DECODE_FAILED') || isReprocessError(err, 'SPEC_INVALID')) failure ??= err;
          // The consumer has moved past this batch (it fetches ahead): read it again, once the
          // consumer has dealt with the error.
          sent.delete(`${batch.topic}:${batch.partition}`);
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
        apply(topic, partition, BigInt(from), next, null, 0);
      },
      onCrash: (err, willRestart) => {
        if (!willRestart) failure ??= err;
      },
    });
    for (;;) {
      // A counting thread that stopped fails every batch from then on: the comparison stops with its reason.
      failure ??= started.counting?.failure ?? null;
      if (failure) throw failure;
      if (o.signal?.aborted) throw new ReprocessError('ABORTED', 'comparison stopped; run it again with the same --run-id to continue.');
      if (o.follow) {
        const runDone = await o.follow();
        await refreshEnds([sides.live, sides.candidate]);
        if (runDone && (await finished())) break;
      } else if (await finished()) {
        break;
      }
      // Again in 300 ms, or as soon as a batch reaches its partition's end.
      await new Promise<void>((r) => {
        const timer = setTimeout(() => {
          wake = null;
          r();
        }, 300);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          r();
        };
      });
    }
  } finally {
    await Promise.allSettled([...applying]);
    await consumer.close().catch(() => undefined);
    await closeCounting();
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

/** Sums kept as one field of millionths: counted by a release before sums were split (counter.ts, sumFieldNames). */
function earlierRelease(compareId: string): ReprocessError {
  return new ReprocessError('SPEC_INVALID', `comparison ${compareId} was counted by an earlier release of reprocess, which kept measure sums in another form.`, {
    hint: 'Run the comparison again under a new --run-id (its counters start empty).',
    context: { compareId },
  });
}

async function readSide(redis: Redis, compareId: string, side: Side, spec: JobSpec): Promise<SideAggregate> {
  const h = await redis.hgetall(redisKeys.compareCounters(compareId, side));
  const agg: SideAggregate = { count: 0, buckets: {}, nulls: {}, dimensions: {}, sums: {} };
  // A sum's two fields, whole units and millionths, added up; `s` was one field of millionths.
  const isSum = (kind: string | undefined): kind is string => kind === SUM_UNITS || kind === SUM_MILLIONTHS || kind === 's';
  const addSum = (sums: Record<string, number>, kind: string, measure: string | undefined, n: number): void => {
    if (kind === 's') throw earlierRelease(compareId);
    if (measure !== undefined) sums[measure] = (sums[measure] ?? 0) + (kind === SUM_UNITS ? n : n / MICRO);
  };
  for (const f of spec.validate.nulls) agg.nulls[f] = 0;
  for (const m of spec.validate.measures) agg.sums[m] = 0;
  for (const d of spec.validate.dimensions) agg.dimensions[d] = {};
  for (const [field, raw] of Object.entries(h)) {
    const n = Number(raw);
    const parts = field.split(SEP);
    if (field === 'count') agg.count = n;
    else if (parts[0] === 'b' && parts[1] !== undefined) agg.buckets[parts[1]] = n;
    else if (parts[0] === 'n' && parts[1] !== undefined) agg.nulls[parts[1]] = n;
    else if (isSum(parts[0])) addSum(agg.sums, parts[0], parts[1], n);
    else if (parts[0] === 'd' && parts.length >= 4) {
      const [, dim = '', value = ''] = parts;
      const dimension = (agg.dimensions[dim] ??= {});
      const entry = (dimension[value] ??= { count: 0, sums: Object.fromEntries(spec.validate.measures.map((m) => [m, 0])) });
      if (parts[3] === 'count') entry.count = n;
      else if (isSum(parts[3])) addSum(entry.sums, parts[3], parts[4], n);
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
