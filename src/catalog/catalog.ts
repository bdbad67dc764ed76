import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { ReprocessError } from '../errors.js';
import { kafkaErrorType, type KafkaClient, type Producer } from '../kafka/index.js';

/**
 * The dataset catalog: one record per dataset in the compacted topic `_reprocess_catalog`, holding
 * its versions, the live pointer and the history of promotions and rollbacks. A promotion is one
 * record, so a reader sees the old pointer or the new one, never a mix; a writer that is killed
 * mid-write leaves the old record (its transaction never commits).
 *
 * Writes are compare-and-set on the dataset's revision: the writer takes the dataset's
 * transactional id (fencing any other writer of that dataset), then re-reads the record, and
 * writes revision r+1 only if it still sees revision r.
 */
export const CATALOG_TOPIC = '_reprocess_catalog';

export type VersionState = 'backfilling' | 'validating' | 'passed' | 'failed' | 'live' | 'retired';

export interface DatasetVersion {
  version: number;
  topic: string;
  state: VersionState;
  run: string | null;
  /** The run's own outcome: a version may be promoted only once its run completed. */
  runState: 'running' | 'completed' | 'failed' | null;
  /** The comparison gate's verdict against the live version, when one was run. */
  gate: 'passed' | 'failed' | null;
  report: string | null;
  /**
   * The topic the version was replayed from and its partition count then (its records name their
   * source positions in that topic's partitions): a dataset reader switching between versions
   * needs to know every source partition, including those it has not met a record of yet. Absent
   * on versions written by hand or by a release before it was recorded.
   */
  source?: { topic: string; partitions: number };
  updatedAt: string;
}

export interface HistoryEntry {
  action: 'promote' | 'rollback';
  from: number | null;
  to: number;
  at: string;
  by: string;
  run: string | null;
  report: string | null;
  forced: boolean;
  reason: string | null;
}

export interface DatasetRecord {
  dataset: string;
  live: number | null;
  revision: number;
  versions: DatasetVersion[];
  history: HistoryEntry[];
}

export function emptyDataset(dataset: string): DatasetRecord {
  return { dataset, live: null, revision: 0, versions: [], history: [] };
}

/** Who is acting: --by, else REPROCESS_USER, else the OS user at this host. */
export function actor(by: string | undefined, env: Record<string, string | undefined> = process.env): string {
  if (by) return by;
  if (env.REPROCESS_USER) return env.REPROCESS_USER;
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

export class Catalog {
  private ensured = false;

  constructor(private readonly kafka: KafkaClient) {}

  private async ensureTopic(): Promise<void> {
    if (this.ensured) return;
    const admin = await this.kafka.admin();
    if (!(await admin.topicExists(CATALOG_TOPIC))) {
      await admin.createTopic({ topic: CATALOG_TOPIC, partitions: 1, configs: { 'cleanup.policy': 'compact', 'retention.ms': '-1', 'min.compaction.lag.ms': '0' } }).catch(async (err: unknown) => {
        if (!(await admin.topicExists(CATALOG_TOPIC))) throw err;
      });
    }
    this.ensured = true;
  }

  /**
   * Returns once read_committed readers see `revision`. A read ends at the partition's last stable
   * offset, which for a few milliseconds after a commit returns still stops before the committed
   * record (the markers are written after the commit answers); waiting here means whoever reads
   * next — `datasets`, a reader, another process, this one — sees the change.
   */
  private async untilVisible(dataset: string, revision: number): Promise<void> {
    for (let attempt = 1; attempt <= 20; attempt++) {
      if (((await this.readAll()).get(dataset)?.revision ?? 0) >= revision) return;
      await new Promise((r) => setTimeout(r, 25 * attempt));
    }
  }

  /** Every dataset's latest record (read_committed, to the end of the topic). */
  async readAll(): Promise<Map<string, DatasetRecord>> {
    await this.ensureTopic();
    const admin = await this.kafka.admin();
    const [mark] = await admin.watermarks(CATALOG_TOPIC);
    const out = new Map<string, DatasetRecord>();
    if (!mark || BigInt(mark.high) <= BigInt(mark.low)) return out;
    const end = BigInt(mark.high);
    const groupId = `reprocess-catalog-reader-${randomUUID()}`;
    const consumer = await this.kafka.consumer({ groupId, readCommitted: true, fromBeginning: true, autoCommit: false, maxWaitTimeMs: 100 });
    try {
      await consumer.subscribe([CATALOG_TOPIC]);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ReprocessError('INTERNAL', `reading ${CATALOG_TOPIC} timed out`, { retriable: true })), 30_000);
        const advance = (next: bigint): void => {
          // The last offsets may belong to an open or aborted transaction: under read_committed
          // the fetch stops at the last stable offset, which the high watermark here is at most.
          if (next >= end) {
            clearTimeout(timer);
            resolve();
          }
        };
        consumer
          .run({
            onBatch: async (batch, ctx) => {
              for (const r of batch.records) {
                if (BigInt(r.offset) >= end) break;
                const key = r.key?.toString();
                if (key?.startsWith('dataset:') && r.value) out.set(key.slice(8), JSON.parse(r.value.toString()) as DatasetRecord);
                ctx.resolveOffset(r.offset);
              }
              advance(BigInt(batch.nextOffset));
            },
            onSkipped: (_t, _p, _from, next) => advance(BigInt(next)),
          })
          .catch(reject);
      });
    } finally {
      await consumer.close();
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return out;
  }

  /** update() for bookkeeping that is safe to repeat: retried when another writer got there first. */
  async updateRetrying(dataset: string, change: (current: DatasetRecord) => DatasetRecord | null, attempts = 8): Promise<DatasetRecord> {
    for (let i = 1; ; i++) {
      try {
        return await this.update(dataset, change);
      } catch (err) {
        if (!(err instanceof ReprocessError && err.code === 'CATALOG_CONFLICT') || i >= attempts) throw err;
        await new Promise((r) => setTimeout(r, 100 * i + Math.random() * 200));
      }
    }
  }

  async get(dataset: string): Promise<DatasetRecord | null> {
    return (await this.readAll()).get(dataset) ?? null;
  }

  async liveVersion(dataset: string): Promise<number | null> {
    return (await this.get(dataset))?.live ?? null;
  }

  /**
   * Applies `change` to the dataset's current record and writes the result as revision + 1,
   * atomically with respect to every other writer. `change` may throw to refuse; it returns the
   * new record (or null for "nothing to do").
   */
  async update(dataset: string, change: (current: DatasetRecord) => DatasetRecord | null): Promise<DatasetRecord> {
    await this.ensureTopic();
    const before = (await this.get(dataset)) ?? emptyDataset(dataset);
    const producing = this.kafka.producer({ transactionalId: `reprocess-catalog-${dataset}`, transactionTimeoutMs: 30_000 });
    const fenced = (err: unknown): boolean => {
      const type = kafkaErrorType(err);
      // UNKNOWN (UNKNOWN_SERVER_ERROR): the broker (4.1) fails a commit with an internal state error when
      // another writer's InitProducerId is fencing this transaction at that moment; the fence
      // aborts it, so it is lost to the other writer like any fenced one. CONCURRENT_TRANSACTIONS
      // on the commit is the same moment seen a little earlier: the coordinator is already
      // aborting this transaction for the other writer (a lone writer's commit never meets it,
      // its transaction has no other operation pending).
      return type === 'PRODUCER_FENCED' || type === 'INVALID_PRODUCER_EPOCH' || type === 'INVALID_PRODUCER_ID_MAPPING' || type === 'UNKNOWN' || type === 'CONCURRENT_TRANSACTIONS';
    };
    const conflict = (cause?: unknown): ReprocessError =>
      new ReprocessError('CATALOG_CONFLICT', `another command changed ${dataset} at the same time and won; nothing was changed by this one.`, {
        hint: `Look at \`reprocess datasets ${dataset}\` and run the command again if it still makes sense.`,
        context: { dataset },
        cause,
      });
    let producer: Producer;
    try {
      producer = await producing;
    } catch (err) {
      throw fenced(err) ? conflict(err) : err;
    }
    let tx;
    try {
      // Beginning the transaction takes the dataset's transactional id: any other writer is fenced
      // from here on, and whatever it committed before is visible to the read below.
      tx = await producer.transaction();
    } catch (err) {
      await producer.close();
      throw fenced(err) ? conflict(err) : err;
    }
    try {
      const current = (await this.get(dataset)) ?? emptyDataset(dataset);
      if (current.revision !== before.revision) {
        throw new ReprocessError('CATALOG_CONFLICT', `${dataset} changed while this command ran (revision ${before.revision} → ${current.revision}); nothing was changed.`, {
          hint: `Look at \`reprocess datasets ${dataset}\` and run the command again if it still makes sense.`,
          context: { dataset },
        });
      }
      const next = change(current);
      if (next === null) {
        await tx.abort();
        return current;
      }
      const written: DatasetRecord = { ...next, revision: current.revision + 1 };
      await tx.send(CATALOG_TOPIC, [{ key: Buffer.from(`dataset:${dataset}`), value: Buffer.from(JSON.stringify(written)), partition: 0 }]);
      await tx.commit();
      await this.untilVisible(dataset, written.revision);
      return written;
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw fenced(err) ? conflict(err) : err;
    } finally {
      await producer.close();
    }
  }
}

/** Records (or updates) a version's run state; the version's catalog state follows it. */
export function withVersion(record: DatasetRecord, version: number, patch: Partial<DatasetVersion>): DatasetRecord {
  const now = new Date().toISOString();
  const existing = record.versions.find((v) => v.version === version);
  const base: DatasetVersion = existing ?? { version, topic: `${record.dataset}_v${version}`, state: 'backfilling', run: null, runState: null, gate: null, report: null, updatedAt: now };
  const updated: DatasetVersion = { ...base, ...patch, updatedAt: now };
  const versions = [...record.versions.filter((v) => v.version !== version), updated].sort((a, b) => a.version - b.version);
  return { ...record, versions };
}
