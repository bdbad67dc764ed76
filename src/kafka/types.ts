import type { EncodedBatch } from './record-batch.js';

/**
 * The narrow Kafka interface the engine uses. Everything Kafka-specific the replay, catalog and
 * aggregator need goes through here, so a second client implementation can be added without
 * touching them. Offsets are decimal strings (Kafka offsets are int64).
 */

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface PartitionWatermarks {
  partition: number;
  /** First retained offset. */
  low: string;
  /** Offset the next record will get (log end offset). */
  high: string;
}

export interface PartitionOffset {
  partition: number;
  offset: string;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  host: string;
  assignment: { topic: string; partitions: number[] }[];
}

export interface GroupDescription {
  groupId: string;
  state: string;
  members: GroupMember[];
}

export interface KafkaAdmin {
  listTopics(): Promise<string[]>;
  topicExists(topic: string): Promise<boolean>;
  /** Creates the topic; false when it already existed. */
  createTopic(spec: TopicSpec): Promise<boolean>;
  deleteTopics(topics: string[]): Promise<void>;
  partitionCount(topic: string): Promise<number>;
  watermarks(topic: string): Promise<PartitionWatermarks[]>;
  /** Per partition, the first offset whose timestamp is ≥ ts, or null when no record is that late. */
  offsetsForTimestamp(topic: string, timestampMs: number): Promise<{ partition: number; offset: string | null }[]>;
  /** Committed offsets of a consumer group on a topic; null where nothing was committed. */
  committedOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string | null }[]>;
  /** Sets a group's committed offsets; the group must have no active members. */
  setCommittedOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>;
  describeGroup(groupId: string): Promise<GroupDescription>;
  /** Records a consumer group has yet to read, summed over every topic it has committed offsets on. */
  groupLag(groupId: string): Promise<{ lag: number; topics: string[] }>;
  deleteGroups(groupIds: string[]): Promise<void>;
}

export type HeaderValue = Buffer | string;
export type { EncodedBatch } from './record-batch.js';
import type { RecordColumns } from './columns.js';
export type { RecordColumns } from './columns.js';

export interface OutRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, HeaderValue>;
  /** Epoch ms as a decimal string; kept from the source record. */
  timestamp?: string;
  /** Explicit partition; when absent the client's partitioner (Java murmur2) chooses by key. */
  partition?: number;
}

export interface ConsumedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers: Record<string, HeaderValue | undefined>;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  highWatermark: string;
  /** The offset the batch was fetched from: no record the application may see lies between it and the first of `records`. */
  fetchedOffset: string;
  /** The batch's records (made on first use where `columns` holds them). */
  records: ConsumedRecord[];
  /**
   * The same records as columns, read where they lie, for a consumer with `rawRecords` whose client
   * read them so (the kafkajs client with its fast path, uncompressed batches). Absent otherwise.
   */
  columns?: RecordColumns;
  /**
   * The position after this batch: one past its last offset, counting the transaction markers and
   * aborted records the application never sees. A partition whose last offsets are markers is
   * finished when this reaches its end, even though no record carries that offset.
   */
  nextOffset: string;
}

export interface BatchContext {
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  /** True when a rebalance took this partition away while the batch was being processed. */
  isStale(): boolean;
  /** Moves the consumer's in-memory position past `offset` (no commit); a no-op with `fetchAhead`. */
  resolveOffset(offset: string): void;
}

export interface Assignment {
  topic: string;
  partitions: number[];
}

export interface ConsumerHandlers {
  onBatch(batch: ConsumedBatch, ctx: BatchContext): Promise<void>;
  /**
   * The consumer moved over offsets [fromOffset, nextOffset) that hold nothing for the
   * application (transaction markers, aborted or compacted records).
   */
  onSkipped?(topic: string, partition: number, fromOffset: string, nextOffset: string): void;
  onAssignment?(assignment: Assignment[]): void;
  onCrash?(error: unknown, willRestart: boolean): void;
}

export interface ConsumerOptions {
  groupId: string;
  /** Read only committed transactional data (default true). */
  readCommitted?: boolean;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeMs?: number;
  /** Where to start without a committed offset. */
  fromBeginning?: boolean;
  /** Commit offsets automatically (at-least-once); false when offsets are committed in transactions. */
  autoCommit?: boolean;
  /**
   * How many partitions' batches may be in `onBatch` at once (default 1); one partition's batches
   * are always handed over one after the other.
   */
  partitionsConcurrently?: number;
  /**
   * Fetch the next batches while these are processed: the consumer's position moves past each
   * batch as it is handed over, so a handler that stops short or fails leaves a gap the next batch
   * starts after (its `fetchedOffset` tells), and must seek back itself. `resolveOffset` is then
   * of no use. Default false.
   */
  fetchAhead?: boolean;
  /**
   * With `fetchAhead`: hand the next round of batches over while this round's are still in
   * `onBatch` (each partition's batches still one after the other), so a partition whose batch is
   * done goes on while another's is finishing. At most two rounds are in the handlers. Default false.
   */
  overlapRounds?: boolean;
  /**
   * Hand records over as the client read them: as columns where it read them so
   * (`ConsumedBatch.columns`), and as records whose fields are made on first use. Their fields
   * are getters: not for code that spreads or deep-compares records. Default false.
   */
  rawRecords?: boolean;
}

export interface Consumer {
  subscribe(topics: string[]): Promise<void>;
  run(handlers: ConsumerHandlers): Promise<void>;
  pause(topic: string, partitions: number[]): void;
  resume(topic: string, partitions: number[]): void;
  seek(topic: string, partition: number, offset: string): void;
  commitOffsets(topic: string, offsets: PartitionOffset[]): Promise<void>;
  close(): Promise<void>;
}

export interface Transaction {
  send(topic: string, records: OutRecord[]): Promise<void>;
  /**
   * Sends records already encoded per partition (record-batch.ts), in the order given; a
   * partition's batches land in that order. Same guarantees as `send`.
   */
  sendEncoded(topic: string, batches: readonly EncodedBatch[]): Promise<void>;
  /** Adds the consumer group's next offsets to this transaction (committed atomically with the records). */
  sendOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface ProducerOptions {
  /** Set for an exactly-once producer; one per worker and partition set, stable across restarts so zombies are fenced. */
  transactionalId?: string;
  idempotent?: boolean;
  transactionTimeoutMs?: number;
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
}

export interface Producer {
  send(topic: string, records: OutRecord[]): Promise<void>;
  /** As Transaction.sendEncoded, outside a transaction. */
  sendEncoded(topic: string, batches: readonly EncodedBatch[]): Promise<void>;
  transaction(): Promise<Transaction>;
  close(): Promise<void>;
}

export interface KafkaClient {
  admin(): Promise<KafkaAdmin>;
  producer(options?: ProducerOptions): Promise<Producer>;
  consumer(options: ConsumerOptions): Promise<Consumer>;
  /** Closes everything this client opened. Safe to call twice. */
  close(): Promise<void>;
}
