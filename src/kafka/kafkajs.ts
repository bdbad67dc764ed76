import type {
  CompressionTypes,
  Admin as JsAdmin,
  Consumer as JsConsumer,
  Producer as JsProducer,
  KafkaConfig,
  LogEntry,
  SASLOptions,
  Message,
  EachBatchPayload,
} from 'kafkajs';
import { FETCH_AHEAD, OVERLAP_ROUNDS } from './kafkajs-fetcher.js';
import { encodedBatchMessage, installKafkajsFastpath, loadKafkajs } from './kafkajs-fastpath.js';
import { decodeEncodedBatch, type EncodedBatch } from './record-batch.js';
import { materialize, type FetchedColumns } from './kafkajs-records.js';
import { ReprocessError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import type { KafkaEndpoint } from '../config/endpoints.js';
import { silentLogger, type Logger } from '../log.js';
import type {
  ConsumedBatch,
  ConsumedRecord,
  Consumer,
  ConsumerHandlers,
  ConsumerOptions,
  GroupDescription,
  KafkaAdmin,
  KafkaClient,
  OutRecord,
  PartitionOffset,
  Producer,
  ProducerOptions,
  TopicSpec,
  Transaction,
} from './types.js';

// Loaded through the fast path: kafkajs's producer internals replaced where they were measured slow.
const { Kafka, logLevel: KafkaLogLevel, CompressionTypes: Compression } = loadKafkajs();

/** kafkajs reports retriable coordinator hiccups as ERROR; the errors that matter reach us as exceptions. */
function logCreator(logger: Logger) {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...rest } = log;
    if (level === KafkaLogLevel.INFO) logger.trace({ kafkajs: rest }, message);
    else logger.debug({ kafkajs: rest }, message);
  };
}

const COMPRESSION = {
  none: Compression.None,
  gzip: Compression.GZIP,
  snappy: Compression.Snappy,
  lz4: Compression.LZ4,
  zstd: Compression.ZSTD,
} as const;

/**
 * As shipped, kafkajs groups a send's messages per partition by copying the partition's array once
 * per message (producer/groupMessagesPerPartition.js), which costs the square of the records a send
 * holds per partition (a 5,000-record transaction into one partition cost 22 CPU µs per record, 12–13
 * when cut at 200; bench/clients.ts). The fast path (kafkajs-fastpath.ts) replaces that grouping;
 * without it, sends are cut so that no call holds more than this many records for one partition.
 */
const SEND_SLICE_STOCK = 200;

/**
 * Whatever the client, no call holds more than this many bytes of keys and values for one
 * partition: each partition's share of a produce request is one record batch, which the broker
 * refuses above its `message.max.bytes` (1 MiB by default).
 */
export const SEND_SLICE_BYTES = 512 * 1024;

export const sendSliceRecords = (): number => (installKafkajsFastpath().installed ? Number.POSITIVE_INFINITY : SEND_SLICE_STOCK);

/**
 * Splits a send into calls holding at most `maxRecords` records and about `maxBytes` bytes (a
 * single record larger than that still goes, alone) per partition, keeping each partition's
 * records in order (calls are made one after the other). Records without an explicit partition
 * are placed by kafkajs's partitioner, so they are counted as one group.
 */
export function sliceForSend(records: OutRecord[], maxRecords = sendSliceRecords(), maxBytes = SEND_SLICE_BYTES): Message[][] {
  const groups = new Map<number, { calls: Message[][]; records: number; bytes: number }>();
  const calls: Message[][] = [];
  for (const r of records) {
    const p = r.partition ?? -1;
    let g = groups.get(p);
    if (!g) groups.set(p, (g = { calls: [], records: 0, bytes: 0 }));
    const size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
    if (g.calls.length === 0 || g.records >= maxRecords || (g.records > 0 && g.bytes + size > maxBytes)) {
      const index = g.calls.length;
      const call = calls[index] ?? (calls[index] = []);
      g.calls.push(call);
      g.records = 0;
      g.bytes = 0;
    }
    (g.calls[g.calls.length - 1] as Message[]).push(r as Message);
    g.records++;
    g.bytes += size;
  }
  return calls;
}

/**
 * The calls that send encoded batches: a produce request holds one record batch per partition,
 * so call k holds each partition's k-th batch (calls are made one after the other, so each
 * partition's batches land in order). Without the fast path, or compressed, kafkajs encodes the
 * records itself: they are read back out of the batches and sent as plain messages.
 */
export function encodedSendCalls(batches: readonly EncodedBatch[], compression: CompressionTypes): Message[][] {
  if (!installKafkajsFastpath().installed || compression !== Compression.None) {
    const records: OutRecord[] = [];
    for (const b of batches) for (const r of decodeEncodedBatch(b)) records.push({ ...r, partition: b.partition });
    return sliceForSend(records);
  }
  const calls: Message[][] = [];
  const seen = new Map<number, number>();
  for (const b of batches) {
    if (b.count === 0) continue;
    const k = seen.get(b.partition) ?? 0;
    seen.set(b.partition, k + 1);
    (calls[k] ??= []).push(encodedBatchMessage(b) as unknown as Message);
  }
  return calls;
}

/** Turns kafkajs's connection failures into one line naming the endpoint and the variable that sets it. */
export function mapKafkaError(err: unknown, brokers: string[]): unknown {
  if (err instanceof ReprocessError) return err;
  const name = (err as { name?: string }).name ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const connection =
    name === 'KafkaJSConnectionError' ||
    name === 'KafkaJSBrokerNotFound' ||
    name === 'KafkaJSConnectionClosedError' ||
    (name === 'KafkaJSNumberOfRetriesExceeded' && /connect|ECONNREFUSED|closed|timeout/i.test(message)) ||
    name === 'KafkaJSNonRetriableError' && /ECONNREFUSED|connect/i.test(message);
  if (connection) {
    return new ReprocessError('ENDPOINT_UNREACHABLE', `Cannot reach Kafka at ${brokers.join(',')} (set by KAFKA_BROKERS): ${message}`, {
      retriable: true,
      hint: 'Start the embedded stack with `reprocess stack up`, or set KAFKA_BROKERS to your cluster.',
      context: { endpoint: brokers.join(','), variable: 'KAFKA_BROKERS' },
      cause: err,
    });
  }
  const codec = name === 'KafkaJSNotImplemented' ? /^(\w+) compression not implemented/i.exec(message) : null;
  if (codec) {
    return new ReprocessError('CONFIG_INVALID', `A fetched record batch is compressed with ${codec[1]}, which this client cannot read: kafkajs decompresses gzip only (${message}).`, {
      hint: 'Only uncompressed and gzip-compressed record batches can be read. Copy the window into a topic with compression.type=gzip (kcat, MirrorMaker) and replay that; what this run wrote before the batch stays.',
      context: { endpoint: brokers.join(',') },
      cause: err,
    });
  }
  if (name === 'KafkaJSSASLAuthenticationError') {
    return new ReprocessError('CONFIG_INVALID', `Kafka rejected the SASL credentials: ${message}`, {
      hint: 'Check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.',
      context: { endpoint: brokers.join(','), variable: 'KAFKA_SASL_USERNAME' },
      cause: err,
    });
  }
  return err;
}

/**
 * The Kafka error code name (`PRODUCER_FENCED`, …) of an error from this client: kafkajs sets it as
 * `type`, and hands a non-retriable broker error back wrapped, the broker's error as its cause.
 */
export function kafkaErrorType(err: unknown): string | undefined {
  const e = err as { type?: string; cause?: { type?: string } } | null;
  return e?.type ?? e?.cause?.type;
}

/**
 * CONCURRENT_TRANSACTIONS means the coordinator is still finishing this producer's previous
 * transaction; the Java client retries it, kafkajs does not for AddOffsetsToTxn.
 */
async function retryConcurrent<T>(fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * i, 500)));
    }
  }
}

async function guard<T>(brokers: string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapKafkaError(err, brokers);
  }
}

export interface KafkaJsClientOptions {
  endpoint: KafkaEndpoint;
  logger?: Logger;
  /** Shorter connection retries make unreachable brokers fail fast in CLI commands. */
  connectRetries?: number;
}

export function createKafkaJsClient(options: KafkaJsClientOptions): KafkaClient {
  const { endpoint } = options;
  const logger = options.logger ?? silentLogger();
  const config: KafkaConfig = {
    clientId: endpoint.clientId,
    brokers: endpoint.brokers,
    logLevel: KafkaLogLevel.INFO,
    logCreator: logCreator(logger),
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: options.connectRetries ?? 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  };
  if (endpoint.sasl) config.sasl = { ...endpoint.sasl } as SASLOptions;
  if (endpoint.ssl) config.ssl = { ...endpoint.ssl };
  const kafka = new Kafka(config);
  const brokers = endpoint.brokers;
  const open = new Set<{ close(): Promise<void> }>();
  let adminPromise: Promise<KafkaAdmin> | undefined;
  let closed: Promise<void> | undefined;

  const track = <T extends { close(): Promise<void> }>(thing: T): T => {
    const close = thing.close.bind(thing);
    let once: Promise<void> | undefined;
    thing.close = () => {
      open.delete(thing);
      once ??= close();
      return once;
    };
    open.add(thing);
    return thing;
  };

  return {
    admin() {
      adminPromise ??= guard(brokers, async () => {
        const admin = kafka.admin();
        await admin.connect();
        return track(wrapAdmin(admin, brokers));
      });
      return adminPromise;
    },
    async producer(opts: ProducerOptions = {}) {
      const producer = kafka.producer({
        idempotent: opts.idempotent ?? opts.transactionalId !== undefined,
        maxInFlightRequests: opts.transactionalId !== undefined || opts.idempotent ? 1 : 5,
        ...(opts.transactionalId !== undefined ? { transactionalId: opts.transactionalId } : {}),
        transactionTimeout: opts.transactionTimeoutMs ?? 60_000,
        allowAutoTopicCreation: false,
        // A transaction's first send to a partition is refused (CONCURRENT_TRANSACTIONS) while the
        // coordinator is still writing the previous transaction's markers, which takes a few ms.
        // kafkajs retries it after the client's initial retry time (about 200 ms), which stalled
        // one transaction in three; the Java producer retries it after 20 ms. Retries stay
        // unlimited, as kafkajs sets them for an idempotent producer.
        ...(opts.transactionalId !== undefined || opts.idempotent ? { retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 20, maxRetryTime: 5_000 } } : {}),
      });
      await guard(brokers, () => producer.connect());
      return track(wrapProducer(producer, brokers, COMPRESSION[opts.compression ?? 'none']));
    },
    async consumer(opts: ConsumerOptions) {
      const consumer = kafka.consumer({
        groupId: opts.groupId,
        readUncommitted: !(opts.readCommitted ?? true),
        sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
        rebalanceTimeout: opts.rebalanceTimeoutMs ?? 60_000,
        heartbeatInterval: opts.heartbeatIntervalMs ?? 3_000,
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 1_048_576,
        // A paused or drained consumer waits this long in each fetch, and disconnect() waits for
        // that fetch: 500 ms made every replay's finish half a second longer.
        maxWaitTimeInMs: opts.maxWaitTimeMs ?? 100,
        allowAutoTopicCreation: false,
      });
      await guard(brokers, () => consumer.connect());
      return track(wrapConsumer(consumer, opts, brokers));
    },
    close() {
      closed ??= (async () => {
        await Promise.allSettled([...open].map((t) => t.close()));
      })();
      return closed;
    },
  };
}

function wrapAdmin(admin: JsAdmin, brokers: string[]): KafkaAdmin & { close(): Promise<void> } {
  const g = <T>(fn: () => Promise<T>): Promise<T> => guard(brokers, fn);
  /** Until every partition of the topic has a leader; a topic just created may be unknown for a moment. */
  const waitForLeaders = async (topic: string, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const md = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = md.topics[0]?.partitions ?? [];
        if (partitions.length > 0 && partitions.every((p) => p.leader >= 0)) return;
      } catch (err) {
        const type = kafkaErrorType(err);
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw mapKafkaError(err, brokers);
      }
      if (Date.now() > deadline) {
        throw new ReprocessError('ENDPOINT_UNREACHABLE', `Topic ${topic} was created on ${brokers.join(',')} but its partitions got no leader within ${timeoutMs / 1000} s.`, {
          hint: "Check the brokers' logs: a broker short of disk, or cut off from its controller quorum, cannot take new partitions.",
          context: { endpoint: brokers.join(','), topic },
        });
      }
      await sleep(100);
    }
  };
  /**
   * Offsets asked of a partition whose leadership is moving (or, on KRaft, of a topic created a
   * moment ago by another process, which this one did not wait for) are refused with
   * NOT_LEADER_FOR_PARTITION or LEADER_NOT_AVAILABLE, which Kafka clients retry: so does this, for
   * up to 10 s, after refreshing the topic's metadata.
   */
  const offsets = async <T>(topic: string, fn: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const type = kafkaErrorType(err);
        if ((type !== 'NOT_LEADER_FOR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') || Date.now() > deadline) throw mapKafkaError(err, brokers);
      }
      await sleep(100);
      await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    }
  };
  return {
    listTopics: () => g(() => admin.listTopics()),
    async topicExists(topic) {
      return (await g(() => admin.listTopics())).includes(topic);
    },
    async createTopic(spec: TopicSpec) {
      const created = await g(() =>
        admin.createTopics({
          // kafkajs's own wait gives up when the metadata does not know the topic yet
          // (UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker answers for a moment after creating it).
          waitForLeaders: false,
          topics: [{
            topic: spec.topic,
            numPartitions: spec.partitions,
            replicationFactor: spec.replicationFactor ?? -1,
            configEntries: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
          }],
        }),
      );
      await waitForLeaders(spec.topic);
      return created;
    },
    deleteTopics: (topics) => g(() => admin.deleteTopics({ topics, timeout: 30_000 })),
    async partitionCount(topic) {
      const md = await g(() => admin.fetchTopicMetadata({ topics: [topic] }));
      return md.topics[0]?.partitions.length ?? 0;
    },
    async watermarks(topic) {
      const offs = await offsets(topic, () => admin.fetchTopicOffsets(topic));
      return offs.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
    },
    async offsetsForTimestamp(topic, ts) {
      const offs = await offsets(topic, () => admin.fetchTopicOffsetsByTimestamp(topic, ts));
      // kafkajs answers with the high watermark where no record is that late; report that as null.
      const high = new Map((await offsets(topic, () => admin.fetchTopicOffsets(topic))).map((o) => [o.partition, o.high]));
      return offs
        .map((o) => ({ partition: o.partition, offset: o.offset === '-1' ? null : o.offset === high.get(o.partition) ? null : o.offset }))
        .sort((a, b) => a.partition - b.partition);
    },
    async committedOffsets(groupId, topic) {
      const res = await g(() => admin.fetchOffsets({ groupId, topics: [topic] }));
      const parts = res.find((t) => t.topic === topic)?.partitions ?? [];
      return parts.map((p) => ({ partition: p.partition, offset: p.offset === '-1' ? null : p.offset })).sort((a, b) => a.partition - b.partition);
    },
    setCommittedOffsets: (groupId, topic, offsets) => g(() => admin.setOffsets({ groupId, topic, partitions: offsets })),
    async describeGroup(groupId): Promise<GroupDescription> {
      const { groups } = await g(() => admin.describeGroups([groupId]));
      const grp = groups[0];
      if (!grp) return { groupId, state: 'Dead', members: [] };
      return {
        groupId,
        state: grp.state,
        members: grp.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          host: m.clientHost,
          assignment: decodeAssignment(m.memberAssignment),
        })),
      };
    },
    async groupLag(groupId) {
      const committed = await g(() => admin.fetchOffsets({ groupId }));
      let lag = 0;
      const topics: string[] = [];
      for (const t of committed) {
        if (!t.partitions.some((p) => p.offset !== '-1')) continue;
        topics.push(t.topic);
        const high = new Map((await offsets(t.topic, () => admin.fetchTopicOffsets(t.topic))).map((o) => [o.partition, BigInt(o.high)]));
        for (const p of t.partitions) {
          const end = high.get(p.partition) ?? 0n;
          const at = p.offset === '-1' ? 0n : BigInt(p.offset);
          if (end > at) lag += Number(end - at);
        }
      }
      return { lag, topics };
    },
    deleteGroups: async (groupIds) => {
      await g(() => admin.deleteGroups(groupIds));
    },
    close: () => admin.disconnect(),
  };
}

/** ConsumerProtocolAssignment v0/v1: int16 version | array<topic: string, partitions: array<int32>> | bytes user_data. */
function decodeAssignment(buf: Buffer): { topic: string; partitions: number[] }[] {
  const out: { topic: string; partitions: number[] }[] = [];
  if (buf.length < 6) return out;
  let pos = 2;
  const topics = buf.readInt32BE(pos);
  pos += 4;
  for (let t = 0; t < topics && pos < buf.length; t++) {
    const len = buf.readInt16BE(pos);
    pos += 2;
    const topic = buf.toString('utf8', pos, pos + len);
    pos += len;
    const n = buf.readInt32BE(pos);
    pos += 4;
    const partitions: number[] = [];
    for (let i = 0; i < n; i++, pos += 4) partitions.push(buf.readInt32BE(pos));
    out.push({ topic, partitions });
  }
  return out;
}

function wrapProducer(producer: JsProducer, brokers: string[], compression: CompressionTypes): Producer & { close(): Promise<void> } {
  return {
    async send(topic, records) {
      for (const messages of sliceForSend(records)) {
        if (messages.length) await guard(brokers, () => producer.send({ topic, messages, compression, acks: -1 }));
      }
    },
    async sendEncoded(topic, batches) {
      for (const messages of encodedSendCalls(batches, compression)) {
        if (messages.length) await guard(brokers, () => producer.send({ topic, messages, compression, acks: -1 }));
      }
    },
    async transaction(): Promise<Transaction> {
      const tx = await guard(brokers, () => producer.transaction());
      return {
        async send(topic, records) {
          for (const messages of sliceForSend(records)) {
            if (messages.length) await guard(brokers, () => tx.send({ topic, messages, compression, acks: -1 }));
          }
        },
        async sendEncoded(topic, batches) {
          for (const messages of encodedSendCalls(batches, compression)) {
            if (messages.length) await guard(brokers, () => tx.send({ topic, messages, compression, acks: -1 }));
          }
        },
        sendOffsets: (groupId, topic, offsets: PartitionOffset[]) =>
          guard(brokers, () => retryConcurrent(() => tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: offsets }] }))),
        commit: () => guard(brokers, () => tx.commit()),
        abort: () => guard(brokers, () => tx.abort()),
      };
    },
    close: () => producer.disconnect(),
  };
}

function wrapConsumer(consumer: JsConsumer, opts: ConsumerOptions, brokers: string[]): Consumer & { close(): Promise<void> } {
  const removers: (() => void)[] = [];
  return {
    subscribe: (topics) => guard(brokers, () => consumer.subscribe({ topics, fromBeginning: opts.fromBeginning ?? true })),
    async run(handlers: ConsumerHandlers) {
      if (handlers.onSkipped) {
        const onSkipped = handlers.onSkipped;
        // kafkajs resolves batches that held only markers or aborted records itself and never calls
        // eachBatch for them; its instrumentation event is the only place the new position shows.
        removers.push(consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
          const p = e.payload;
          if (p.batchSize === 0 && p.lastOffset !== undefined) {
            onSkipped(p.topic, p.partition, p.firstOffset ?? p.lastOffset, (BigInt(p.lastOffset) + 1n).toString());
          }
        }));
      }
      if (handlers.onAssignment) {
        const onAssignment = handlers.onAssignment;
        removers.push(consumer.on(consumer.events.GROUP_JOIN, (e) => {
          onAssignment(Object.entries(e.payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions })));
        }));
      }
      if (handlers.onCrash) {
        const onCrash = handlers.onCrash;
        removers.push(consumer.on(consumer.events.CRASH, (e) => onCrash(mapKafkaError(e.payload.error, brokers), e.payload.restart)));
      }
      // With overlapping rounds a partition's next batch may reach a handler while its last one is
      // still in onBatch: it waits there for it (so twice the handlers, half of them waiting).
      const overlap = opts.fetchAhead === true && opts.overlapRounds === true;
      const inHandler = new Map<string, Promise<void>>();
      await guard(brokers, () =>
        consumer.run({
          autoCommit: opts.autoCommit ?? false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: (opts.partitionsConcurrently ?? 1) * (overlap ? 2 : 1),
          eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
            const lastOffset = batch.lastOffset();
            if (opts.fetchAhead) {
              // Before any await: the fetcher looks for the mark as soon as it has handed the batches over.
              resolveOffset(lastOffset);
              (batch as unknown as { [FETCH_AHEAD]?: boolean })[FETCH_AHEAD] = true;
              if (overlap) (batch as unknown as { [OVERLAP_ROUNDS]?: boolean })[OVERLAP_ROUNDS] = true;
            }
            if (!overlap) return handle(batch, lastOffset, { heartbeat, isRunning, isStale, resolveOffset });
            const key = `${batch.topic}|${batch.partition}`;
            const before = inHandler.get(key);
            let done = (): void => undefined;
            const mine = new Promise<void>((resolve) => (done = resolve));
            inHandler.set(key, mine);
            try {
              if (before) await before;
              await handle(batch, lastOffset, { heartbeat, isRunning, isStale, resolveOffset });
            } finally {
              done();
              if (inHandler.get(key) === mine) inHandler.delete(key);
            }
          },
        }),
      );

      async function handle(batch: EachBatchPayload['batch'], lastOffset: string, k: Pick<EachBatchPayload, 'heartbeat' | 'isRunning' | 'isStale' | 'resolveOffset'>): Promise<void> {
        const { heartbeat, isRunning, isStale, resolveOffset } = k;
        // With the fast path a record set is read as columns (kafkajs-records.ts): handed over
        // as they are where asked for, with records made only when read.
        const columns = (batch as unknown as { keptColumns?: FetchedColumns | null }).keptColumns ?? null;
        let records: ConsumedRecord[] | undefined;
        const consumed: ConsumedBatch = {
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: batch.highWatermark,
          fetchedOffset: String((batch as unknown as { fetchedOffset: string | number }).fetchedOffset),
          nextOffset: (BigInt(lastOffset) + 1n).toString(),
          // kafkajs's own message objects: they have these fields (a missing key or value is
          // null, headers an object), and a copy per record is measurable. With the fast path
          // they are LazyRecords: handed over as they are where asked for, else as the plain
          // objects kafkajs makes.
          get records(): ConsumedRecord[] {
            const messages: unknown[] = columns ? columns.records() : batch.messages;
            return (records ??= (opts.rawRecords ? messages : messages.map(materialize)) as ConsumedRecord[]);
          },
          ...(opts.rawRecords && columns ? { columns } : {}),
        };
        await handlers.onBatch(consumed, { heartbeat, isRunning, isStale, resolveOffset: opts.fetchAhead ? () => undefined : resolveOffset });
      }
    },
    pause: (topic, partitions) => consumer.pause([{ topic, partitions }]),
    resume: (topic, partitions) => consumer.resume([{ topic, partitions }]),
    seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
    commitOffsets: (topic, offsets) => guard(brokers, () => consumer.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: o.offset })))),
    async close() {
      for (const r of removers.splice(0)) r();
      await consumer.disconnect();
    },
  };
}
