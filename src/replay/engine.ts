import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { buildUpcastChain, type JobSpec, type PartitionRange } from '../core/index.js';
import { columnsOf, columnsWithin, offsetAt } from '../kafka/columns.js';
import { ReprocessError, errorClass, errorMessage } from '../errors.js';
import { kafkaErrorType, type BatchContext, type ConsumedBatch, type ConsumedRecord, type Consumer, type EncodedBatch, type KafkaClient, type OutRecord, type Producer } from '../kafka/index.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/index.js';
import { withVersion, type Catalog } from '../catalog/index.js';
import { RunStore, type PartitionProgress } from '../runs/store.js';
import { SinkEncoder, SourceDecoder, chunkFacts } from './codec.js';
import { dlqRecord } from './dlq.js';
import { loadTransform, loadUpcasters, type Transform } from './modules.js';
import { planReplay, type ReplayPlan } from './plan.js';
import { startAdaptive } from './adaptive.js';
import { RedisThrottle } from './redis-throttle.js';
import type { Throttle } from './throttle.js';
import type { Registry } from 'prom-client';
import { ReplayMetrics } from '../metrics/replay.js';
import { processChunk, type ChunkEnv } from './process.js';
import { ProcessingPool, defaultThreads } from './workers.js';
import { checkThreads } from '../util/threads.js';

export interface ReplayOptions {
  spec: JobSpec;
  runId: string;
  kafka: KafkaClient;
  registry: RegistryClient;
  redis: Redis;
  logger: Logger;
  signal?: AbortSignal;
  workerId?: string;
  throttle?: Throttle;
  /** Called about twice a second with the state of this worker's view of the run. */
  onProgress?: (snapshot: ReplaySnapshot) => void;
  /** The dataset catalog: the live version is never written, and the run's version is recorded. */
  catalog?: Catalog;
  progressIntervalMs?: number;
  /**
   * exactly-once (default): output and offsets commit in one transaction per chunk.
   * at-least-once: plain idempotent sends, then an offset commit; a crash can repeat a chunk.
   */
  delivery?: 'exactly-once' | 'at-least-once';
  /** Where to register this worker's Prometheus metrics (see src/metrics/replay.ts); none when absent. */
  metrics?: Registry;
  /**
   * Processing threads beside the main thread (decode, upcast, transform, encode); 0 processes on
   * the main thread. Default: 2 where the machine has more than one core (workers.ts).
   */
  threads?: number;
}

export interface PartitionSnapshot extends PartitionProgress {
  records: number;
}

export interface ReplaySnapshot {
  runId: string;
  workerId: string;
  startedAt: number;
  elapsedMs: number;
  partitions: PartitionSnapshot[];
  /** Across the whole run (every worker), from the committed offsets. */
  totalRecords: number;
  doneRecords: number;
  /** This worker's counts. */
  read: number;
  written: number;
  dlq: number;
  filtered: number;
  recordsPerSec: number;
  etaSeconds: number | null;
  rateLimit: number | null;
  throttledMs: number;
  registryWaiting: boolean;
}

export interface ReplaySummary {
  runId: string;
  workerId: string;
  state: 'completed' | 'stopped';
  resumed: boolean;
  sourceTopic: string;
  sinkTopic: string;
  dlqTopic: string;
  read: number;
  written: number;
  dlq: number;
  filtered: number;
  durationMs: number;
  partitions: { partition: number; start: string; end: string; read: number; written: number; dlq: number; filtered: number }[];
}

interface PartitionState {
  range: PartitionRange;
  end: bigint;
  /** Next offset to process, as last committed. */
  position: bigint;
  /**
   * Next offset to process, as far as this worker has gone: past every chunk whose records were
   * acknowledged (at-least-once) or whose transaction committed (exactly-once). Ahead of
   * `position` only while at-least-once commits run behind; back to `position` after a failure.
   */
  handled: bigint;
  read: number;
  written: number;
  dlq: number;
  filtered: number;
  producer?: Producer;
  /** This worker holds the partition's transactional id (set on the first batch after assignment). */
  fenced: boolean;
  /** Serializes everything done for this partition (batches, marker commits). */
  chain: Promise<void>;
  /** At-least-once: the partition's offset commits, which run behind its sends (never rejects). */
  committing: Promise<void>;
  /** At-least-once: a commit that failed behind the sends, reported on the partition's next batch. */
  failed?: unknown;
}

export function consumerGroupFor(runId: string): string {
  return `reprocess-run-${runId}`;
}

/** One transactional id per run and source partition: the next owner of a partition fences the previous one. */
export function transactionalIdFor(runId: string, partition: number): string {
  return `reprocess-${runId}-p${partition}`;
}

const MIN_DLQ_SAMPLE = 200;
/** Partitions processed at once (each holds one batch being processed and the next one being fetched). */
const MAX_CONCURRENT_PARTITIONS = 64;

/**
 * Runs (or resumes) one worker of a replay. Every chunk of records becomes one Kafka transaction
 * holding the sink records, the DLQ records and the source offsets, so a killed worker resumes
 * from its last commit and a read_committed reader sees each source record exactly once.
 */
export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  const { spec, runId, kafka, registry, logger } = options;
  const signal = options.signal ?? new AbortController().signal;
  const workerId = options.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 4)}`;
  const log = logger.child({ runId, workerId });
  const metrics = options.metrics
    ? new ReplayMetrics(options.metrics, { runId, dataset: spec.dataset, version: spec.version, workerId, sourceTopic: spec.source.topic, sinkTopic: spec.sinkTopic })
    : undefined;
  const store = new RunStore(options.redis);
  const groupId = consumerGroupFor(runId);
  const admin = await kafka.admin();
  const startedAt = Date.now();

  // 1. Decide the ranges. A run that exists keeps the ranges it was planned with.
  const existing = await store.get(runId);
  if (existing && (existing.dataset !== spec.dataset || existing.version !== spec.version || existing.sourceTopic !== spec.source.topic)) {
    throw new ReprocessError('SPEC_INVALID', `run ${runId} replays ${existing.sourceTopic} into ${existing.sinkTopic}, not ${spec.source.topic} into ${spec.sinkTopic}.`, {
      hint: 'Use a new --run-id for a different job, or the original job spec to resume this run.',
      context: { runId },
    });
  }
  const dataset = options.catalog ? await options.catalog.get(spec.dataset) : null;
  const known = dataset?.versions.find((v) => v.version === spec.version);
  if (known?.state === 'retired') {
    throw new ReprocessError('UNSAFE_SINK', `refusing to write to ${spec.sinkTopic}: v${spec.version} of ${spec.dataset} was live before and is what a rollback returns to.`, {
      hint: `Write a new version instead (version: ${Math.max(...(dataset?.versions ?? []).map((v) => v.version), spec.version) + 1}).`,
      context: { topic: spec.sinkTopic },
    });
  }
  const plan: ReplayPlan = await planReplay(spec, kafka, { liveVersion: dataset?.live ?? null });
  const stored = existing ? await store.partitions(runId) : [];
  const ranges: PartitionRange[] = stored.length > 0
    ? stored.map((p) => ({ partition: p.partition, start: p.start, end: p.end, records: Number(BigInt(p.end) - BigInt(p.start)) }))
    : plan.ranges;

  // 2. Claim the sink: one run owns a version.
  const owner = await store.claimSink(spec.sinkTopic, runId);
  if (owner !== runId) {
    throw new ReprocessError('SINK_OWNED', `${spec.sinkTopic} belongs to run ${owner}; refusing to mix two runs' output in one version.`, {
      hint: `Resume that run with --run-id ${owner}, or write a new version.`,
      context: { runId, topic: spec.sinkTopic },
    });
  }

  await options.catalog?.updateRetrying(spec.dataset, (r) => {
    const v = r.versions.find((x) => x.version === spec.version);
    if (v && v.run === runId && v.runState === 'running' && v.source) return null;
    return withVersion(r, spec.version, { state: 'backfilling', run: runId, runState: 'running', gate: null, report: null, source: { topic: spec.source.topic, partitions: plan.sourcePartitions } });
  });

  // 3. Load the user's code and the codecs before creating anything else.
  const transform: Transform = await loadTransform(spec.transformPath);
  const upcasters = spec.upcast.modulePath ? await loadUpcasters(spec.upcast.modulePath) : null;
  const latestSubject = await registry.latest(`${spec.source.topic}-value`);
  const highestUpcaster = Math.max(0, ...Object.keys(upcasters ?? {}).map(Number));
  const latestVersion = Math.max(latestSubject?.version ?? 1, spec.upcast.legacyIds ? spec.upcast.legacyIds.upTo + 1 : 1, highestUpcaster + 1);
  const upcast = buildUpcastChain({ legacyIds: spec.upcast.legacyIds, modules: upcasters, versionField: spec.source.versionField, latestVersion });
  let registryWaiting = false;
  const decoder = new SourceDecoder({
    registry,
    subject: `${spec.source.topic}-value`,
    versionField: spec.source.versionField,
    upcast,
    signal,
    onSchemaFetch: (id) => log.debug({ schemaId: id }, 'fetching a writer schema from the registry'),
    onRegistryWait: (err, attempt) => {
      registryWaiting = true;
      log.warn({ attempt, err: err.message }, 'schema registry unavailable; waiting (records are not sent to the DLQ for this)');
    },
  });
  const threads = checkThreads(options.threads ?? defaultThreads(), 'Use 0 to process on the main thread, or a number of processing threads (the default: 1 on a 2-core machine, 2 on more cores).');

  // 4. The output schema and the topics, side by side (creating a topic waits for its leaders).
  // A dataset version keeps its history: records carry the source's (old) timestamps, which
  // time-based retention would delete at once. Kept forever unless the operator says otherwise.
  // Segments roll by size only: by time they would roll every 7 days of the records' (old)
  // timestamps, cutting a 90-day backfill into small segments that no fetch crosses.
  const keep = { 'retention.ms': '-1', 'segment.ms': String(10 * 365 * 24 * 3_600_000) };
  const [schemaId, sinkPartitions, dlqPartitions] = await Promise.all([
    registry.register(`${spec.sinkTopic}-value`, spec.outputSchema),
    (async () => {
      if (!plan.sinkExists) {
        await admin.createTopic({ topic: spec.sinkTopic, partitions: plan.sinkPartitions, configs: keep });
        log.info({ topic: spec.sinkTopic, partitions: plan.sinkPartitions }, 'created the sink topic');
      }
      return admin.partitionCount(spec.sinkTopic);
    })(),
    (async () => {
      if (!(await admin.topicExists(spec.dlqTopic))) {
        await admin.createTopic({ topic: spec.dlqTopic, partitions: plan.sourcePartitions, configs: keep });
      }
      return admin.partitionCount(spec.dlqTopic);
    })(),
  ]);
  const encoder = new SinkEncoder(spec.outputSchema, schemaId);
  const env: ChunkEnv = { decoder, transform, encoder, sourceTopic: spec.source.topic, outputKey: spec.output.key, sinkPartitions, maxMs: spec.transaction.maxMs };

  const states = new Map<number, PartitionState>();
  for (const r of ranges) {
    states.set(r.partition, { range: r, end: BigInt(r.end), position: BigInt(r.start), handled: BigInt(r.start), read: 0, written: 0, dlq: 0, filtered: 0, fenced: false, chain: Promise.resolve(), committing: Promise.resolve() });
  }
  metrics?.partitions(ranges.map((r) => r.partition));
  if (!existing) {
    await store.create(
      {
        runId, dataset: spec.dataset, version: spec.version, sourceTopic: spec.source.topic, sinkTopic: spec.sinkTopic, dlqTopic: spec.dlqTopic,
        spec: spec.specPath, state: 'running', startedAt: new Date(startedAt).toISOString(), finishedAt: null, error: null,
        totalRecords: ranges.reduce((s, r) => s + r.records, 0),
      },
      ranges.map((r) => ({ partition: r.partition, start: r.start, end: r.end, position: r.start, read: 0, written: 0, dlq: 0, filtered: 0, worker: null, done: r.start === r.end })),
    );
  } else {
    await store.setState(runId, 'running');
  }

  // 5. Start positions: a resumed run continues from its committed offsets; where nothing is
  // committed yet, the first batch of a partition seeks to the window's start (no offsets are
  // committed outside the transactions, so concurrent workers can never move a partition back).
  const committed = await admin.committedOffsets(groupId, spec.source.topic);
  const resumed = committed.some((c) => c.offset !== null);
  // A partition's position moves up to a committed offset (this worker's or another's), never back.
  const advanceTo = (st: PartitionState, offset: string | null | undefined): void => {
    if (offset == null || BigInt(offset) <= st.position) return;
    st.position = BigInt(offset);
    if (st.position > st.handled) st.handled = st.position;
  };
  for (const c of committed) {
    const st = states.get(c.partition);
    if (st) advanceTo(st, c.offset);
  }
  if (resumed) log.info({ positions: committed.filter((c) => c.offset !== null) }, 'resuming from the last committed transaction');

  let workerCount = 1;
  const throttle: Throttle = options.throttle ?? new RedisThrottle({
    redis: options.redis,
    runId,
    recordsPerSec: spec.rate?.recordsPerSec ?? null,
    bytesPerSec: spec.rate?.bytesPerSec ?? null,
    burstMs: spec.rate?.burstMs ?? 1_000,
    workers: () => workerCount,
    logger: log,
  });
  let throttledMs = 0;
  let failure: unknown = null;
  const assigned = new Set<number>();
  /** When `assigned` was given (status shows a partition on the worker given it last). */
  let assignedAt = new Date().toISOString();
  const done = (st: PartitionState): boolean => st.position >= st.end;
  // A partition that reached its end stops being fetched, and the wait for the run's end looks again.
  const finishIfDone = (st: PartitionState): void => {
    if (!done(st)) return;
    consumer.pause(spec.source.topic, [st.range.partition]);
    wake();
  };

  // A short session: a worker that died is noticed in seconds and its partitions move on.
  const consumer: Consumer = await kafka.consumer({ groupId, readCommitted: true, autoCommit: false, fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 30_000,
    // Every partition a fetch brings is processed at once: one partition's sends and commits overlap
    // the others' processing, and the processing thread always has a chunk waiting. The next fetch
    // runs meanwhile; a batch fetched past a stop short or a failure is fetched again (processBatch).
    partitionsConcurrently: Math.min(MAX_CONCURRENT_PARTITIONS, Math.max(1, ranges.length)), fetchAhead: true,
    // A partition whose batch is done takes its next one while others still wait for their last
    // acknowledgement (the processing threads are not left idle at each round's end).
    overlapRounds: true,
    // Records as read: their bytes are copied once per chunk for the processing thread (workers.ts).
    rawRecords: true });
  const stopController = new AbortController();
  const stop = (): void => stopController.abort();
  signal.addEventListener('abort', stop, { once: true });

  const exactlyOnce = (options.delivery ?? 'exactly-once') === 'exactly-once';
  // A producer per partition in both modes: one partition's sends never wait behind another's
  // (an idempotent producer sends one request at a time).
  const producerFor = async (st: PartitionState): Promise<Producer> => {
    st.producer ??= await (exactlyOnce
      ? kafka.producer({ transactionalId: transactionalIdFor(runId, st.range.partition), transactionTimeoutMs: 60_000 })
      : kafka.producer({ idempotent: true }));
    return st.producer;
  };

  const commit = async (st: PartitionState, sink: readonly EncodedBatch[], dlq: OutRecord[], next: bigint): Promise<void> => {
    const producer = await producerFor(st);
    if (!exactlyOnce) {
      // The records are acknowledged (durable) before their offsets are committed, so nothing is
      // ever committed past what was written. The commit runs behind: the partition's next chunk is
      // processed meanwhile. A partition's commits go out in order; one that fails is reported on
      // the partition's next batch (which restarts the consumer from the last commit, like any Kafka
      // error) and what came after it is sent again: duplicates, which this mode allows.
      await Promise.all([producer.sendEncoded(spec.sinkTopic, sink), producer.send(spec.dlqTopic, dlq)]);
      if (next > st.handled) st.handled = next;
      const partition = st.range.partition;
      st.committing = st.committing.then(async () => {
        try {
          await consumer.commitOffsets(spec.source.topic, [{ partition, offset: next.toString() }]);
          if (next > st.position) st.position = next;
          finishIfDone(st);
        } catch (err) {
          failedBehind(st, err);
        }
      });
      return;
    }
    const tx = await producer.transaction();
    try {
      await tx.sendEncoded(spec.sinkTopic, sink);
      await tx.send(spec.dlqTopic, dlq);
      await tx.sendOffsets(groupId, spec.source.topic, [{ partition: st.range.partition, offset: next.toString() }]);
      await tx.commit();
      metrics?.transaction('committed');
    } catch (err) {
      await tx.abort().then(() => metrics?.transaction('aborted'), () => undefined);
      const type = kafkaErrorType(err);
      // CONCURRENT_TRANSACTIONS here is the coordinator already aborting this transaction for a
      // worker that is taking the partition's transactional id. The producer is dropped as when
      // fenced: kafkajs keeps one whose commit failed in a state no later transaction can leave.
      if (type === 'PRODUCER_FENCED' || type === 'INVALID_PRODUCER_EPOCH' || type === 'CONCURRENT_TRANSACTIONS') {
        // Another worker owns this partition now; none of this chunk became visible.
        log.warn({ partition: st.range.partition }, 'fenced by the worker that took this partition over; dropping the chunk');
        const producer = st.producer;
        delete st.producer;
        st.fenced = false;
        await producer?.close().catch(() => undefined);
      }
      throw err;
    }
    st.position = st.handled = next;
  };

  // After a failure the partition starts again from its last commit. The consumer has already
  // moved past the batch (it fetches ahead), so it is sent back there.
  const restartFromCommit = (st: PartitionState): void => {
    st.handled = st.position;
    try {
      consumer.seek(spec.source.topic, st.range.partition, st.position.toString());
    } catch {
      // not assigned any more: the next owner starts from the last commit anyway
    }
  };
  // An offset commit that failed behind the sends: the error is thrown on the partition's next
  // batch, where the consumer handles it like any Kafka error (the seek makes that batch come,
  // even after the window's last chunk).
  const failedBehind = (st: PartitionState, err: unknown): void => {
    st.failed ??= err;
    restartFromCommit(st);
  };

  const committedOffsetOf = async (partition: number): Promise<string | null | undefined> =>
    (await admin.committedOffsets(groupId, spec.source.topic)).find((c) => c.partition === partition)?.offset;

  const processBatch = async (batch: ConsumedBatch, ctx: BatchContext): Promise<void> => {
    const st = states.get(batch.partition);
    if (st?.failed !== undefined) {
      const err = st.failed;
      delete st.failed;
      throw err;
    }
    if (!st || st.handled >= st.end) {
      consumer.pause(spec.source.topic, [batch.partition]);
      return;
    }
    if (!st.fenced && exactlyOnce) {
      // Take the partition's transactional id before trusting any offset: that fences the previous
      // owner (even one paused past its session), after which the committed offset is final.
      const tx = await (await producerFor(st)).transaction();
      await tx.abort();
      metrics?.transaction('aborted');
      st.fenced = true;
      advanceTo(st, await committedOffsetOf(batch.partition));
      st.handled = st.position;
      if (done(st)) {
        consumer.pause(spec.source.topic, [batch.partition]);
        return;
      }
    }
    if (BigInt(batch.fetchedOffset) > st.handled) {
      // Fetched from past where this worker is: the consumer moved on while an earlier batch
      // stopped short or failed. Records in between would be skipped; fetch them again instead
      // (from the last commit, or where another worker's commits have got to).
      advanceTo(st, await committedOffsetOf(batch.partition));
      if (BigInt(batch.fetchedOffset) > st.handled) {
        const low = (await admin.watermarks(spec.source.topic)).find((w) => w.partition === batch.partition)?.low;
        if (low !== undefined && BigInt(low) > st.handled) {
          throw new ReprocessError('WINDOW_INVALID', `${spec.source.topic} partition ${batch.partition}: retention deleted offsets ${st.handled}–${BigInt(low) - 1n} before this run replayed them; the run stopped, with everything before them written.`, {
            hint: `Replay a window that starts later (retention deletes the oldest records first), or raise ${spec.source.topic}'s retention.ms for the backfill. What this run wrote stays in ${spec.sinkTopic}.`,
            context: { runId, topic: spec.source.topic, partition: batch.partition },
          });
        }
        consumer.seek(spec.source.topic, batch.partition, st.handled.toString());
        return;
      }
    }
    // The batch's records as columns: windowed, chunked, counted and sent with no object per record.
    const all = batch.columns ?? columnsOf(batch.records);
    const lastOffset = all.length > 0 ? offsetAt(all, all.length - 1) : undefined;
    if (lastOffset !== undefined && lastOffset < st.handled) {
      // Fetched from before the window (a partition with no commit yet starts at the log start).
      consumer.seek(spec.source.topic, batch.partition, st.handled.toString());
      return;
    }
    const records = columnsWithin(all, st.handled, st.end);
    let i = 0;
    // A chunk commits while the next one is processed: at most one commit is in flight, and it
    // always settles before the batch returns (a failed one throws there, and what was processed
    // after it is dropped unsent).
    let committing: Promise<void> | null = null;
    const settle = async (): Promise<void> => {
      const c = committing;
      committing = null;
      if (c) await c;
    };
    try {
      while (i < records.length) {
        if (stopController.signal.aborted || !ctx.isRunning() || ctx.isStale()) return;
        // Under a rate limit a transaction holds about maxMs of work, so commits stay frequent.
        const limit = throttle.currentLimit();
        const size = limit === null ? spec.transaction.maxRecords : Math.max(1, Math.min(spec.transaction.maxRecords, Math.ceil((limit * spec.transaction.maxMs) / 1000)));
        const chunk = records.slice(i, Math.min(i + size, records.length));
        const { bytes, schemaIds } = chunkFacts(chunk);
        const waited = await throttle.acquire(chunk.length, bytes, stopController.signal);
        throttledMs += waited;
        metrics?.throttled(waited, chunk.length);
        if (stopController.signal.aborted) return;
        await decoder.prepareIds(schemaIds);
        registryWaiting = false;
        // The sink's records come back encoded per sink partition; the producer only adds headers.
        const result = poolReady ? await (await poolReady).process(chunk, batch.partition) : await processChunk(env, chunk, batch.partition);
        const { taken, tally } = result;
        const sink = result.batches;
        const dlq = result.failures.map((f) => dlqRecord(chunk.record(f.src), { runId, topic: spec.source.topic, partition: batch.partition, dlqPartitions }, f));
        if (taken <= 0) break;
        i += taken;
        // The last chunk of a batch also moves past markers the batch ended with, up to the window's end.
        let next = offsetAt(chunk, taken - 1) + 1n;
        if (i >= records.length) {
          const after = BigInt(batch.nextOffset);
          next = after < st.end ? (after > next ? after : next) : st.end;
        }
        // The previous chunk's commit must land before this one starts (they go out in order).
        await settle();
        if (stopController.signal.aborted || !ctx.isRunning() || ctx.isStale()) return;
        st.read += taken;
        st.filtered += tally.filtered;
        committing = commit(st, sink, dlq, next).then(async () => {
          tally.read = taken;
          metrics?.committed(batch.partition, tally);
          st.written += tally.written;
          st.dlq += dlq.length;
          await ctx.heartbeat();
          checkDlqRatio();
        });
        // Not unhandled while the next chunk is processed; settle() still throws its error.
        committing.catch(() => undefined);
      }
    } finally {
      await settle();
    }
    if (records.length === 0) {
      // Only records at or past the end (appended after planning): the partition is finished.
      const after = BigInt(batch.nextOffset);
      if (after >= st.end || (lastOffset !== undefined && lastOffset >= st.end)) {
        await commit(st, [], [], st.end);
      }
    }
    finishIfDone(st);
  };

  const totalRead = (): number => [...states.values()].reduce((s, p) => s + p.read, 0);
  const totalDlq = (): number => [...states.values()].reduce((s, p) => s + p.dlq, 0);
  const checkDlqRatio = (final = false): void => {
    const read = totalRead();
    const bad = totalDlq();
    if ((final || read >= MIN_DLQ_SAMPLE) && read > 0 && bad / read > spec.dlq.maxRatio) {
      throw new ReprocessError('DLQ_RATIO_EXCEEDED', `${bad} of ${read} records (${((bad / read) * 100).toFixed(2)}%) failed, above dlq.maxRatio ${(spec.dlq.maxRatio * 100).toFixed(2)}%; the run stopped. Failed records are in ${spec.dlqTopic} with headers saying why.`, {
        hint: `Inspect them (e.g. kcat -C -t ${spec.dlqTopic} -f '%h\\n'), fix the transform or upcasters, then resume with --run-id ${runId}.`,
        context: { runId, topic: spec.dlqTopic },
      });
    }
  };

  const enqueue = (partition: number, task: () => Promise<void>): Promise<void> => {
    const st = states.get(partition);
    if (!st) return task();
    const next = st.chain.then(task);
    st.chain = next.catch(() => undefined);
    return next;
  };

  const snapshot = async (): Promise<ReplaySnapshot> => {
    const list = [...states.values()];
    const totalRecords = ranges.reduce((s, r) => s + r.records, 0);
    let doneRecords = 0;
    try {
      const offs = await admin.committedOffsets(groupId, spec.source.topic);
      for (const o of offs) {
        const st = states.get(o.partition);
        if (st) advanceTo(st, o.offset);
      }
    } catch {
      // progress is best effort
    }
    for (const st of list) doneRecords += Number((st.position < st.end ? st.position : st.end) - BigInt(st.range.start));
    const elapsedMs = Date.now() - startedAt;
    const mine = totalRead();
    const rate = elapsedMs > 0 ? (mine * 1000) / elapsedMs : 0;
    const remaining = totalRecords - doneRecords;
    return {
      runId, workerId, startedAt, elapsedMs,
      partitions: list.map((st) => ({
        partition: st.range.partition, start: st.range.start, end: st.range.end, position: (st.position < st.end ? st.position : st.end).toString(),
        read: st.read, written: st.written, dlq: st.dlq, filtered: st.filtered, worker: assigned.has(st.range.partition) ? workerId : null, done: done(st),
        records: st.range.records,
      })),
      totalRecords, doneRecords,
      read: mine, written: list.reduce((s, p) => s + p.written, 0), dlq: totalDlq(), filtered: list.reduce((s, p) => s + p.filtered, 0),
      recordsPerSec: rate, etaSeconds: remaining <= 0 ? 0 : rate > 0 ? remaining / rate : null,
      rateLimit: throttle.currentLimit(), throttledMs, registryWaiting,
    };
  };

  const persist = async (snap: ReplaySnapshot): Promise<void> => {
    await store.heartbeat(runId, { workerId, host: hostname(), pid: process.pid, partitions: [...assigned].sort((a, b) => a - b), assignedAt, at: new Date().toISOString() });
    const recent = Date.now() - 10_000;
    workerCount = Math.max(1, (await store.workers(runId)).filter((w) => Date.parse(w.at) >= recent).length);
    for (const p of snap.partitions) {
      if (!assigned.has(p.partition) && !p.done) continue;
      const { records: _records, ...progress } = p;
      await store.savePartition(runId, progress);
    }
  };

  const reportProgress = (snap: ReplaySnapshot): void => {
    metrics?.progress(snap.partitions.map((p) => ({ partition: p.partition, records: p.records, done: Number(BigInt(p.position) - BigInt(p.start)) })), snap.rateLimit);
  };

  let finished = false;
  let wake: () => void = () => undefined;
  const allDone = (): boolean => [...states.values()].every(done);
  const stopAdaptive = spec.rate?.adaptive
    ? startAdaptive({ redis: options.redis, admin, runId, workerId, groups: spec.rate.adaptive.groups, maxLag: spec.rate.adaptive.maxLag, logger: log })
    : () => undefined;
  // Processing threads load the transform and codecs while the consumer joins its group; the first
  // batch waits for them (a thread that cannot start fails the run there).
  const poolReady = threads > 0
    ? ProcessingPool.start({
      transformPath: spec.transformPath, upcastModulePath: spec.upcast.modulePath, legacyIds: spec.upcast.legacyIds, versionField: spec.source.versionField, latestVersion,
      subject: `${spec.source.topic}-value`, outputSchema: spec.outputSchema, sourceTopic: spec.source.topic, outputKey: spec.output.key, maxMs: spec.transaction.maxMs,
    }, threads, decoder).then((p) => {
      p.configure({ schemaId, sinkPartitions });
      log.debug({ threads }, 'processing threads started');
      return p;
    })
    : null;
  poolReady?.catch(() => undefined);
  try {
    await consumer.subscribe([spec.source.topic]);
    const runPromise = consumer.run({
      onBatch: (batch, ctx) =>
        enqueue(batch.partition, () => processBatch(batch, ctx)).catch((err: unknown) => {
          // Our own non-retriable errors (DLQ ratio, bad output) stop the run; Kafka's errors make
          // the consumer restart from the last committed transaction.
          if (err instanceof ReprocessError && !err.retriable) {
            failure ??= err;
            stop();
            return;
          }
          const st = states.get(batch.partition);
          if (st) restartFromCommit(st);
          throw err;
        }),
      onSkipped: (_topic, partition, from, next) => {
        const st = states.get(partition);
        if (!st || st.handled >= st.end || BigInt(next) <= st.handled) return;
        const target = BigInt(next) < st.end ? BigInt(next) : st.end;
        // Runs after any batch already queued for the partition. Only a stretch that begins at
        // the committed position may be committed over: nothing unprocessed is ever skipped.
        enqueue(partition, async () => {
          if (BigInt(from) <= st.handled && target > st.handled) await commit(st, [], [], target);
        }).then(
          () => finishIfDone(st),
          (err: unknown) => {
            failure ??= err;
            stop();
          },
        );
      },
      onAssignment: (assignment) => {
        assignedAt = new Date().toISOString();
        assigned.clear();
        for (const a of assignment) for (const p of a.partitions) assigned.add(p);
        for (const [p, st] of states) {
          // After a rebalance every partition is fetched again from its last commit.
          delete st.failed;
          if (!assigned.has(p)) {
            st.fenced = false;
            st.handled = st.position;
          }
          if (!assigned.has(p) && st.producer) {
            const producer = st.producer;
            delete st.producer;
            void producer.close().catch(() => undefined);
          }
        }
        const finishedParts = [...assigned].filter((p) => {
          const st = states.get(p);
          return !st || done(st);
        });
        if (finishedParts.length) consumer.pause(spec.source.topic, finishedParts);
        log.info({ partitions: [...assigned] }, 'partitions assigned');
      },
      onCrash: (err, willRestart) => {
        if (!willRestart) {
          failure ??= err;
          stop();
        } else log.warn({ err: errorMessage(err) }, 'consumer restarting after an error');
      },
    });
    await runPromise;

    // Wait until every partition of the run is done (by any worker), or we are told to stop.
    while (!stopController.signal.aborted) {
      const abortReason = await store.abortRequested(runId).catch(() => null);
      if (abortReason) {
        failure ??= new ReprocessError('ABORTED', `run ${runId} was stopped by its comparison: ${abortReason}`, {
          hint: 'Fix the transform, then replay into a new version (this one failed validation).',
          context: { runId },
        });
        break;
      }
      const snap = await snapshot();
      options.onProgress?.(snap);
      reportProgress(snap);
      await persist(snap).catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'could not save progress to Redis'));
      if (allDone()) {
        finished = true;
        break;
      }
      // The next progress tick, or sooner when this worker finishes a partition.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.progressIntervalMs ?? 500);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = () => undefined;
    }
    if (failure) throw failure;
    if (finished) checkDlqRatio(true);
  } catch (err) {
    failure ??= err;
  } finally {
    stopAdaptive();
    signal.removeEventListener('abort', stop);
    // Batches still being processed stop at their next chunk, and offset commits still running
    // (at-least-once) land, before the consumer leaves its group.
    stop();
    await Promise.all([...states.values()].map((st) => st.chain));
    await Promise.all([...states.values()].map((st) => st.committing));
    await consumer.close().catch(() => undefined);
    await Promise.all([...states.values()].map((st) => st.producer?.close().catch(() => undefined)));
    await throttle.close().catch(() => undefined);
    await poolReady?.then((p) => p.close(), () => undefined);
    const snap = await snapshot().catch(() => null);
    if (snap) {
      options.onProgress?.(snap);
      reportProgress(snap);
      await persist(snap).catch(() => undefined);
    }
    await store.removeWorker(runId, workerId).catch(() => undefined);
  }

  const runState = failure ? 'failed' : finished ? 'completed' : null;
  if (runState && options.catalog) {
    await options.catalog
      .updateRetrying(spec.dataset, (r) => {
        const v = r.versions.find((x) => x.version === spec.version);
        if (!v || v.run !== runId || v.runState === runState) return null;
        return withVersion(r, spec.version, { runState, state: runState === 'completed' ? (v.state === 'backfilling' ? 'validating' : v.state) : v.state });
      })
      .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'could not record the run in the catalog'));
  }
  if (failure) {
    const message = errorMessage(failure);
    await store.setState(runId, 'failed', message).catch(() => undefined);
    throw failure instanceof ReprocessError ? failure : new ReprocessError('INTERNAL', `replay ${runId} failed: ${errorClass(failure)}: ${message}`, { cause: failure, context: { runId } });
  }
  await store.setState(runId, finished ? 'completed' : 'stopped').catch(() => undefined);
  const list = [...states.values()];
  return {
    runId, workerId, state: finished ? 'completed' : 'stopped', resumed,
    sourceTopic: spec.source.topic, sinkTopic: spec.sinkTopic, dlqTopic: spec.dlqTopic,
    read: totalRead(), written: list.reduce((s, p) => s + p.written, 0), dlq: totalDlq(), filtered: list.reduce((s, p) => s + p.filtered, 0),
    durationMs: Date.now() - startedAt,
    partitions: list.map((st) => ({ partition: st.range.partition, start: st.range.start, end: st.range.end, read: st.read, written: st.written, dlq: st.dlq, filtered: st.filtered })),
  };
}
