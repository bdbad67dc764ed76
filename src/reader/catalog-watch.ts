import { CATALOG_TOPIC, type DatasetRecord } from '../catalog/catalog.js';
import { ReprocessError } from '../errors.js';
import type { Consumer, KafkaClient } from '../kafka/index.js';

export interface CatalogWatchOptions {
  dataset: string;
  /** A group of its own: it never commits, so it always reads the compacted topic from its start. */
  groupId: string;
  /** Called (after the initial read) each time the dataset's record changes. */
  onChange(record: DatasetRecord | null): void;
  onError(err: unknown): void;
  /** How long the initial read to the end of the catalog may take. */
  timeoutMs?: number;
}

export interface CatalogWatch {
  /** The dataset's latest record as read so far (null: none, or deleted). */
  readonly current: DatasetRecord | null;
  close(): Promise<void>;
}

/**
 * Follows one dataset's record in the catalog topic with one long-lived consumer, so a promotion
 * reaches the reader as soon as it is committed (push, no polling). Resolves once the catalog has
 * been read to the end it had at the start, so `current` is the live state from then on.
 */
export async function watchCatalog(kafka: KafkaClient, options: CatalogWatchOptions): Promise<CatalogWatch> {
  const admin = await kafka.admin();
  const key = `dataset:${options.dataset}`;
  let current: DatasetRecord | null = null;
  let ready = false;
  const [mark] = (await admin.topicExists(CATALOG_TOPIC)) ? await admin.watermarks(CATALOG_TOPIC) : [];
  const end = mark ? BigInt(mark.high) : 0n;
  if (!mark || end <= BigInt(mark.low)) ready = true;

  const consumer: Consumer = await kafka.consumer({ groupId: options.groupId, readCommitted: true, autoCommit: false, fromBeginning: true, maxWaitTimeMs: 200 });
  const watch: CatalogWatch = {
    get current() {
      return current;
    },
    close: async () => {
      await consumer.close();
      await admin.deleteGroups([options.groupId]).catch(() => undefined);
    },
  };
  try {
    await consumer.subscribe([CATALOG_TOPIC]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ReprocessError('INTERNAL', `reading ${CATALOG_TOPIC} to its end timed out`, { retriable: true, hint: 'Check that Kafka is reachable and not overloaded.' })),
        options.timeoutMs ?? 30_000,
      );
      const advance = (next: bigint): void => {
        // Under read_committed the fetch stops at the last stable offset, which end is at most.
        if (!ready && next >= end) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      if (ready) {
        clearTimeout(timer);
        resolve();
      }
      consumer
        .run({
          onBatch: async (batch, ctx) => {
            let changed = false;
            for (const r of batch.records) {
              if (r.key?.toString() === key) {
                current = r.value ? (JSON.parse(r.value.toString()) as DatasetRecord) : null;
                changed = true;
              }
              ctx.resolveOffset(r.offset);
            }
            const wasReady = ready;
            advance(BigInt(batch.nextOffset));
            if (wasReady && changed) options.onChange(current);
          },
          onSkipped: (_t, _p, _from, next) => advance(BigInt(next)),
          onCrash: (err, willRestart) => {
            if (!willRestart) {
              if (ready) options.onError(err);
              else reject(err instanceof Error ? err : new Error(String(err)));
            }
          },
        })
        .catch(reject);
    });
  } catch (err) {
    await watch.close().catch(() => undefined);
    throw err;
  }
  return watch;
}
