import { randomUUID } from 'node:crypto';
import type { DatasetRecord } from '../catalog/catalog.js';
import { parseSourceHeader, SOURCE_HEADER } from '../core/source-header.js';
import { loadEndpoints, type Endpoints } from '../config/endpoints.js';
import { ReprocessError, errorMessage } from '../errors.js';
import { createKafkaClient, type Consumer, type HeaderValue, type KafkaAdmin, type KafkaClient } from '../kafka/index.js';
import { silentLogger, type Logger } from '../log.js';
import { RegistryClient } from '../registry/index.js';
import { watchCatalog, type CatalogWatch } from './catalog-watch.js';
import { ValueDecoder } from './decode.js';
import { ceilingAfter, DeliveryTracker, floorAfter, inDuplicateWindow, knownSourcePartitions, planSwitch, shouldDeliver, type SourceMark, type SwitchPlan } from './switch.js';

/** One record of the live version, as handed to `eachRecord`. */
export interface ReaderRecord {
  dataset: string;
  version: number;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  /** The decoded value (Avro, via the registry) with `decode: true`; else the raw bytes. */
  value: unknown;
  raw: Buffer | null;
  /** Epoch ms: the source record's timestamp. */
  timestamp: number;
  headers: Record<string, HeaderValue | undefined>;
  /** The source record it was derived from (the `reprocess.source` header); null when absent. */
  source: { partition: number; offset: string } | null;
}

export interface LiveTopic {
  version: number;
  topic: string;
}

/** What a switch did, for logs and callers (`onSwitch`). */
export interface SwitchEvent {
  dataset: string;
  from: LiveTopic;
  to: LiveTopic;
  /** 'source': lined up by source position (no gap, duplicates only in the window); 'event-time': no source headers. */
  mode: 'source' | 'event-time';
  /** Every partition of the old topic had been read to its end. */
  caughtUp: boolean;
  /** Event time the new topic is read from (ms, margin included); null: its beginning or end. */
  startTimestamp: number | null;
  startOffsets: { partition: number; offset: string }[];
  /**
   * Per source partition: every record up to `deliveredThrough` was delivered before the switch
   * (null: unknown); records after it and up to `possiblyThrough` may be delivered a second time.
   */
  window: { sourcePartition: number; deliveredThrough: string | null; possiblyThrough: string | null }[];
}

export interface ReaderStats {
  /** Records handed to eachRecord. */
  delivered: number;
  /** Records of a new topic skipped after a switch because they were delivered from the old one. */
  skippedOnSwitch: number;
  /** Records delivered inside a switch's duplicate window (possibly delivered twice). */
  duplicateWindow: number;
  switches: number;
}

export interface DatasetReaderOptions {
  dataset: string;
  /** The consumer group: offsets are committed under it. One reader process per group id. */
  groupId: string;
  /** Awaited for each record, in order per partition; a throw stops the reader (see `done`). */
  eachRecord(record: ReaderRecord): Promise<void>;
  /** Where to start on a topic the group has no committed offsets on (default true: its beginning). */
  fromBeginning?: boolean;
  /** Decode values with the schema registry (default true). */
  decode?: boolean;
  /** On a switch, start this much event time earlier than computed, for producers slightly out of time order (default 0). */
  switchMarginMs?: number;
  /**
   * When the delivered position is not exactly known on some source partition (see README), start
   * this much event time before the earliest known position instead of at the new topic's beginning.
   */
  switchLookbackMs?: number;
  /**
   * The source topic's partition count: lets a reader that was behind at a switch account for
   * source partitions numbered above every one it has delivered a record of. Versions written by
   * `reprocess replay` record it in the catalog, which the reader reads; give it for versions
   * written otherwise (the larger of the two counts).
   */
  sourcePartitions?: number;
  /**
   * At a switch, how many records of each partition the reader was behind on it may read ahead
   * (without delivering) to find exactly where each source partition stands (default 100000; 0: none,
   * which widens the duplicate window, see README).
   */
  switchReadAheadRecords?: number;
  /** Fetch size per partition; smaller values keep partitions closer in event time (narrower duplicate windows). */
  maxBytesPerPartition?: number;
  kafka?: KafkaClient;
  endpoints?: Endpoints;
  registry?: RegistryClient;
  logger?: Logger;
  onSwitch?(event: SwitchEvent): void;
  /** Aborting closes the reader. */
  signal?: AbortSignal;
}

export interface DatasetReader {
  readonly dataset: string;
  /** The version being read now. */
  readonly live: LiveTopic;
  stats(): ReaderStats;
  /** Records of the current topic not yet delivered (or skipped). */
  lag(): Promise<number>;
  /** Settles when the reader stops: resolves after close(), rejects with the error that stopped it. */
  readonly done: Promise<void>;
  /** Stops after the record in flight, commits, closes what the reader opened. Safe to call twice. */
  close(): Promise<void>;
}

interface Session {
  live: LiveTopic;
  consumer: Consumer;
  tracker: DeliveryTracker;
  plan: SwitchPlan | null;
  /** Next offset to read, per partition. */
  positions: Map<number, bigint>;
  committed: Map<number, bigint>;
  stopping: boolean;
  /** Set while a switch reads the behind partitions ahead: records are inspected, not delivered. */
  ahead: ReadAhead | null;
}

/** The read-ahead of a switch: per behind partition, the first undelivered record of each source partition. */
interface ReadAhead {
  high: Map<number, bigint>;
  next: Map<number, Map<number, SourceMark>>;
  scanned: Map<number, number>;
  /** Finished partitions: true when read to the end. */
  finished: Map<number, boolean>;
  /** Source partitions to look for (grows as new ones are met). */
  sources: Set<number>;
  /** The source topic's partition count, when known (catalog or option): partitions above every one met count too. */
  sourcePartitions: number | null;
  done(): void;
}

interface Resolved {
  dataset: string;
  groupId: string;
  fromBeginning: boolean;
  marginMs: number;
  lookbackMs: number | null;
  maxBytesPerPartition: number | undefined;
  sourcePartitions: number | null;
  readAheadRecords: number;
  readAheadTimeoutMs: number;
}

function resolveOptions(o: DatasetReaderOptions): Resolved {
  const bad = (what: string): never => {
    throw new ReprocessError('USAGE', `openDatasetReader: ${what}`);
  };
  if (!o.dataset) bad('`dataset` is required');
  if (!o.groupId) bad('`groupId` is required');
  if (typeof o.eachRecord !== 'function') bad('`eachRecord` must be an async function');
  const ms = (name: string, v: number | undefined): number | undefined => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) bad(`\`${name}\` must be a non-negative number of milliseconds (got ${String(v)})`);
    return v;
  };
  const count = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) bad(`\`${name}\` must be a positive integer (got ${String(v)})`);
  };
  count('sourcePartitions', o.sourcePartitions);
  count('maxBytesPerPartition', o.maxBytesPerPartition);
  if (o.switchReadAheadRecords !== undefined && !(Number.isInteger(o.switchReadAheadRecords) && o.switchReadAheadRecords >= 0)) bad('`switchReadAheadRecords` must be a non-negative integer');
  return {
    dataset: o.dataset,
    groupId: o.groupId,
    fromBeginning: o.fromBeginning ?? true,
    marginMs: ms('switchMarginMs', o.switchMarginMs) ?? 0,
    lookbackMs: ms('switchLookbackMs', o.switchLookbackMs) ?? null,
    maxBytesPerPartition: o.maxBytesPerPartition,
    sourcePartitions: o.sourcePartitions ?? null,
    readAheadRecords: o.switchReadAheadRecords ?? 100_000,
    readAheadTimeoutMs: 30_000,
  };
}

const liveOf = (record: DatasetRecord | null): LiveTopic | null => {
  if (!record || record.live === null) return null;
  const version = record.live;
  return { version, topic: record.versions.find((v) => v.version === version)?.topic ?? `${record.dataset}_v${version}` };
};

/**
 * Reads a dataset's live version and follows promotions and rollbacks: when the catalog's live
 * pointer moves, the reader finishes the record in flight, commits, and goes on with the new
 * version's topic from the same position in event time, skipping what it already delivered (by
 * the records' source positions). A reader that had read every partition to its end switches with
 * no gap and no duplicate; one that was behind may deliver again the records of its duplicate
 * window (SwitchEvent.window), never skip one.
 *
 * Offsets are committed under `groupId` on the topic being read; a restarted reader resumes from
 * them on whichever version is live then. The switching state lives in the process: run one reader
 * per group id.
 */
export async function openDatasetReader(options: DatasetReaderOptions): Promise<DatasetReader> {
  const cfg = resolveOptions(options);
  if (options.signal?.aborted) throw new ReprocessError('ABORTED', 'openDatasetReader: the signal was already aborted');
  const log = (options.logger ?? silentLogger()).child({ dataset: cfg.dataset, groupId: cfg.groupId });
  const endpoints = (): Endpoints => options.endpoints ?? loadEndpoints();
  const ownKafka = !options.kafka;
  const kafka = options.kafka ?? createKafkaClient(endpoints(), options.logger);
  const stopper = new AbortController();
  const decoder = options.decode === false ? null : new ValueDecoder(options.registry ?? new RegistryClient({ endpoint: endpoints().registry }), stopper.signal);
  const stats: ReaderStats = { delivered: 0, skippedOnSwitch: 0, duplicateWindow: 0, switches: 0 };

  let session: Session | null = null;
  let watch: CatalogWatch | null = null;
  let failure: unknown = null;
  let closing: Promise<void> | null = null;
  let control: Promise<void> = Promise.resolve();
  let settle: { resolve(): void; reject(err: unknown): void } = { resolve: () => undefined, reject: () => undefined };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Marked handled here so an unobserved failure does not crash the process; it is logged instead.
  done.catch(() => undefined);

  const admin: KafkaAdmin = await kafka.admin();

  const fail = (err: unknown): void => {
    if (failure !== null || closing) return;
    failure = err;
    log.error({ err: errorMessage(err) }, 'dataset reader stopped on an error');
    void close();
  };

  const commit = async (s: Session, partition: number): Promise<void> => {
    const pos = s.positions.get(partition);
    if (pos === undefined || s.committed.get(partition) === pos) return;
    await s.consumer.commitOffsets(s.live.topic, [{ partition, offset: pos.toString() }]);
    s.committed.set(partition, pos);
  };

  /** Start offsets on `live.topic`: from the plan after a switch, else the group's commits (or fromBeginning). */
  const startOffsets = async (topic: string, plan: SwitchPlan | null): Promise<{ starts: Map<number, bigint>; startTimestamp: number | null }> => {
    const marks = await admin.watermarks(topic);
    const starts = new Map<number, bigint>();
    if (plan === null) {
      const committed = new Map((await admin.committedOffsets(cfg.groupId, topic)).map((c) => [c.partition, c.offset]));
      for (const m of marks) {
        const c = committed.get(m.partition);
        const fallback = BigInt(cfg.fromBeginning ? m.low : m.high);
        starts.set(m.partition, c == null ? fallback : BigInt(c) > BigInt(m.low) ? BigInt(c) : BigInt(m.low));
      }
      return { starts, startTimestamp: null };
    }
    if (plan.start.kind !== 'timestamp') {
      for (const m of marks) starts.set(m.partition, BigInt(plan.start.kind === 'beginning' ? m.low : m.high));
      return { starts, startTimestamp: null };
    }
    const ts = plan.start.timestamp - cfg.marginMs;
    const byTs = new Map((await admin.offsetsForTimestamp(topic, Math.max(0, ts))).map((o) => [o.partition, o.offset]));
    for (const m of marks) starts.set(m.partition, BigInt(byTs.get(m.partition) ?? m.high));
    return { starts, startTimestamp: ts };
  };

  const openSession = async (live: LiveTopic, plan: SwitchPlan | null, floor: Map<number, SourceMark>, ceiling: Map<number, bigint>): Promise<{ session: Session; startTimestamp: number | null }> => {
    if (!(await admin.topicExists(live.topic))) {
      throw new ReprocessError('DATASET_NOT_FOUND', `${cfg.dataset}'s live version v${live.version} has no topic ${live.topic}`, {
        hint: 'The catalog points at a topic that was deleted: promote or roll back to a version whose topic exists.',
        context: { topic: live.topic },
      });
    }
    const { starts, startTimestamp } = await startOffsets(live.topic, plan);
    const consumer = await kafka.consumer({
      groupId: cfg.groupId,
      readCommitted: true,
      autoCommit: false,
      fromBeginning: cfg.fromBeginning,
      ...(cfg.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: cfg.maxBytesPerPartition } : {}),
    });
    const s: Session = { live, consumer, tracker: new DeliveryTracker(floor, ceiling), plan, positions: new Map(starts), committed: new Map(), stopping: false, ahead: null };
    let seekOnJoin = true;
    try {
      await consumer.subscribe([live.topic]);
      await consumer.run({
        onBatch: async (batch, ctx) => {
          if (s.ahead) {
            readAhead(s.ahead, batch.partition, batch.records, BigInt(batch.nextOffset), s.positions.get(batch.partition) ?? 0n);
            for (const r of batch.records) ctx.resolveOffset(r.offset);
            return;
          }
          if (s.stopping) return;
          const q = batch.partition;
          let pos = s.positions.get(q) ?? 0n;
          let interrupted = false;
          try {
            for (const r of batch.records) {
              if (s.stopping || s.ahead || !ctx.isRunning() || ctx.isStale()) {
                if (s.ahead) readAhead(s.ahead, q, batch.records.filter((x) => BigInt(x.offset) >= pos), BigInt(batch.nextOffset), pos);
                interrupted = true;
                break;
              }
              const offset = BigInt(r.offset);
              if (offset < pos) continue;
              const source = parseSourceHeader(r.headers[SOURCE_HEADER]);
              if (!shouldDeliver(s.plan, source)) {
                stats.skippedOnSwitch++;
              } else {
                const timestamp = Number(r.timestamp);
                const value = decoder ? await decoder.decode(r.value) : r.value;
                await options.eachRecord({
                  dataset: cfg.dataset,
                  version: live.version,
                  topic: live.topic,
                  partition: q,
                  offset: r.offset,
                  key: r.key,
                  value,
                  raw: r.value,
                  timestamp,
                  headers: r.headers,
                  source: source ? { partition: source.partition, offset: source.offset.toString() } : null,
                });
                s.tracker.record(q, source, timestamp);
                stats.delivered++;
                if (inDuplicateWindow(s.plan, source)) stats.duplicateWindow++;
              }
              ctx.resolveOffset(r.offset);
              pos = offset + 1n;
              s.positions.set(q, pos);
              await ctx.heartbeat();
            }
            const next = BigInt(batch.nextOffset);
            if (!interrupted && next > pos) s.positions.set(q, next);
          } catch (err) {
            // The failed record is not committed: a restarted reader gets it again.
            s.stopping = true;
            fail(err);
          }
          await commit(s, q);
        },
        onSkipped: (_topic, q, from, next) => {
          if (s.ahead) readAhead(s.ahead, q, [], BigInt(next), BigInt(from));
          const pos = s.positions.get(q);
          if (!s.stopping && pos !== undefined && BigInt(from) <= pos && BigInt(next) > pos) s.positions.set(q, BigInt(next));
        },
        onAssignment: (assignment) => {
          if (!seekOnJoin) return;
          seekOnJoin = false;
          // Before the first fetch: hold every partition at its start until it is committed.
          for (const a of assignment) {
            if (a.topic !== live.topic) continue;
            for (const p of a.partitions) {
              const start = starts.get(p);
              if (start !== undefined) consumer.seek(live.topic, p, start.toString());
            }
            consumer.pause(live.topic, a.partitions);
          }
        },
        onCrash: (err, willRestart) => {
          if (!willRestart) fail(err);
        },
      });
      // Committed before anything is read: a reader restarted right after a switch resumes here.
      const first = [...starts].map(([partition, offset]) => ({ partition, offset: offset.toString() }));
      if (first.length) await consumer.commitOffsets(live.topic, first);
      for (const [p, o] of starts) s.committed.set(p, o);
      consumer.resume(live.topic, [...starts.keys()]);
    } catch (err) {
      await consumer.close().catch(() => undefined);
      throw err;
    }
    return { session: s, startTimestamp };
  };

  /**
   * Stops delivering from the old topic after the record in flight, and reads the partitions that
   * are behind ahead (up to the read-ahead budget) to find, per source partition, the first record
   * not delivered yet. That makes the switch exact where the reader was behind.
   */
  const stopAndReadAhead = async (old: Session, sourcePartitions: number | null): Promise<{ caught: Map<number, boolean>; ahead: ReadAhead | null }> => {
    const marks = await admin.watermarks(old.live.topic);
    const caught = new Map(marks.map((m) => [m.partition, (old.positions.get(m.partition) ?? BigInt(m.low)) >= BigInt(m.high)]));
    const behind = [...caught].filter(([, c]) => !c).map(([q]) => q);
    if (behind.length === 0 || old.tracker.headerless || cfg.readAheadRecords === 0) {
      old.stopping = true;
      await old.consumer.close();
      return { caught, ahead: null };
    }
    const sources = new Set<number>();
    for (const q of old.tracker.partitions(caught)) for (const p of q.marks.keys()) sources.add(p);
    for (const p of old.tracker.floor.keys()) sources.add(p);
    let finish = (): void => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const ahead: ReadAhead = {
      high: new Map(marks.map((m) => [m.partition, BigInt(m.high)])),
      next: new Map(behind.map((q) => [q, new Map()])),
      scanned: new Map(),
      finished: new Map(),
      sources,
      sourcePartitions,
      done: () => {
        if (behind.every((q) => ahead.finished.has(q))) finish();
      },
    };
    old.ahead = ahead;
    // Partitions that never get another batch (their rest is transaction markers) must not hold the switch.
    const timer = setTimeout(finish, cfg.readAheadTimeoutMs);
    stopper.signal.addEventListener('abort', finish, { once: true });
    await finished;
    clearTimeout(timer);
    stopper.signal.removeEventListener('abort', finish);
    old.stopping = true;
    await old.consumer.close();
    return { caught, ahead };
  };

  const readAhead = (a: ReadAhead, q: number, records: { offset: string; headers: Record<string, HeaderValue | undefined>; timestamp: string }[], nextOffset: bigint, from: bigint): void => {
    const next = a.next.get(q);
    if (!next || a.finished.has(q)) return;
    let scanned = a.scanned.get(q) ?? 0;
    for (const r of records) {
      if (BigInt(r.offset) < from) continue;
      const source = parseSourceHeader(r.headers[SOURCE_HEADER]);
      if (source && !next.has(source.partition)) {
        next.set(source.partition, { offset: source.offset, timestamp: Number(r.timestamp) });
        a.sources.add(source.partition);
      }
      scanned++;
    }
    a.scanned.set(q, scanned);
    const count = Math.max(Math.max(-1, ...a.sources) + 1, a.sourcePartitions ?? 0);
    let all = true;
    for (let p = 0; p < count; p++) if (!next.has(p)) all = false;
    if (nextOffset >= (a.high.get(q) ?? 0n)) a.finished.set(q, true);
    else if (all || scanned >= cfg.readAheadRecords) a.finished.set(q, false);
    a.done();
  };

  const switchTo = async (target: LiveTopic): Promise<void> => {
    const old = session;
    if (!old) return;
    // Every source partition counts, also those the reader has not met a record of yet: their
    // count comes from the catalog (the replays record it) or the sourcePartitions option.
    const sourcePartitions = knownSourcePartitions(watch?.current ?? null, [old.live.version, target.version], cfg.sourcePartitions);
    const { caught, ahead } = await stopAndReadAhead(old, sourcePartitions);
    if (closing) return;
    const partitions = old.tracker.partitions(caught).map((q) => {
      const next = ahead?.next.get(q.partition);
      return next ? { ...q, next, exhausted: ahead?.finished.get(q.partition) === true } : q;
    });
    const plan = planSwitch({
      partitions,
      floor: old.tracker.floor,
      ceiling: old.tracker.ceiling,
      headerless: old.tracker.headerless,
      lookbackMs: cfg.lookbackMs,
      fromBeginning: cfg.fromBeginning,
      sourcePartitions,
    });
    const { session: next, startTimestamp } = await openSession(target, plan, floorAfter(plan), ceilingAfter(plan));
    session = next;
    stats.switches++;
    const event: SwitchEvent = {
      dataset: cfg.dataset,
      from: old.live,
      to: target,
      mode: plan.mode,
      caughtUp: [...caught.values()].every(Boolean),
      startTimestamp,
      startOffsets: [...next.positions].map(([partition, offset]) => ({ partition, offset: offset.toString() })),
      window: [...new Set([...plan.delivered.keys(), ...plan.high.keys()])].sort((a, b) => a - b).map((p) => ({
        sourcePartition: p,
        deliveredThrough: plan.delivered.get(p)?.offset.toString() ?? null,
        possiblyThrough: plan.high.get(p)?.toString() ?? null,
      })),
    };
    log.info({ from: event.from, to: event.to, mode: event.mode, caughtUp: event.caughtUp, startTimestamp }, 'switched to the new live version');
    options.onSwitch?.(event);
  };

  /** Switches until the reader reads what the catalog says is live (promotions can come in a row). */
  const followLive = async (): Promise<void> => {
    for (;;) {
      if (closing || failure !== null || !session || !watch) return;
      const target = liveOf(watch.current);
      if (target === null) {
        log.warn('the dataset has no live version any more; reading on from the last one');
        return;
      }
      if (target.version === session.live.version) return;
      await switchTo(target);
    }
  };
  const schedule = (): void => {
    control = control.then(followLive).catch(fail);
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopper.abort();
      if (session) session.stopping = true;
      await control;
      await session?.consumer.close().catch(() => undefined);
      await watch?.close().catch(() => undefined);
      if (ownKafka) await kafka.close().catch(() => undefined);
      options.signal?.removeEventListener('abort', onAbort);
      if (failure !== null) settle.reject(failure);
      else settle.resolve();
    })();
    return closing;
  };
  const onAbort = (): void => void close();

  try {
    watch = await watchCatalog(kafka, {
      dataset: cfg.dataset,
      groupId: `${cfg.groupId}.catalog.${randomUUID().slice(0, 8)}`,
      onChange: schedule,
      onError: fail,
    });
    const live = liveOf(watch.current);
    if (live === null) {
      throw new ReprocessError('DATASET_NOT_FOUND', `dataset ${cfg.dataset} has no live version in the catalog`, {
        hint: `Promote a version first (reprocess promote ${cfg.dataset} <version>), or check the dataset name (reprocess datasets).`,
        context: { dataset: cfg.dataset },
      });
    }
    session = (await openSession(live, null, new Map(), new Map())).session;
    log.info({ live }, 'reading the live version');
  } catch (err) {
    await watch?.close().catch(() => undefined);
    if (ownKafka) await kafka.close().catch(() => undefined);
    throw err;
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });
  schedule();

  return {
    dataset: cfg.dataset,
    get live(): LiveTopic {
      return session ? { ...session.live } : { version: -1, topic: '' };
    },
    stats: () => ({ ...stats }),
    async lag() {
      const s = session;
      if (!s) return 0;
      let lag = 0n;
      for (const m of await admin.watermarks(s.live.topic)) {
        const pos = s.positions.get(m.partition) ?? BigInt(m.low);
        if (BigInt(m.high) > pos) lag += BigInt(m.high) - pos;
      }
      return Number(lag);
    },
    done,
    close,
  };
}
