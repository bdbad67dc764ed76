import type { ConsumedRecord, KafkaClient } from '../../src/kafka/index.js';
import { unique } from './env.js';

/**
 * Reads every record of a topic (up to the high watermarks at call time) with a fresh consumer
 * group; read_committed unless told otherwise. Returns records by partition in offset order.
 */
export async function readAll(client: KafkaClient, topic: string, options: { readCommitted?: boolean; timeoutMs?: number } = {}): Promise<Map<number, ConsumedRecord[]>> {
  const admin = await client.admin();
  // A transaction's commit returns before its markers are written; until they are, the readable end
  // (the last stable offset, which watermarks give) stops before that transaction. Read the end
  // until it holds still.
  let marks = await admin.watermarks(topic);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const again = await admin.watermarks(topic);
    if (again.every((m, k) => m.high === marks[k]?.high)) break;
    marks = again;
  }
  const out = new Map<number, ConsumedRecord[]>(marks.map((m) => [m.partition, []]));
  const pending = new Set(marks.filter((m) => BigInt(m.high) > BigInt(m.low)).map((m) => m.partition));
  const end = new Map(marks.map((m) => [m.partition, BigInt(m.high)]));
  if (pending.size === 0) return out;
  const consumer = await client.consumer({ groupId: unique('read-all'), readCommitted: options.readCommitted ?? true, fromBeginning: true });
  try {
    await consumer.subscribe([topic]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`readAll(${topic}) timed out; still waiting on partitions ${[...pending].join(',')}`)), options.timeoutMs ?? 60_000);
      const advance = (partition: number, next: bigint): void => {
        if (next >= (end.get(partition) ?? 0n)) pending.delete(partition);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      consumer
        .run({
          onBatch: async (batch, ctx) => {
            const list = out.get(batch.partition) ?? [];
            for (const r of batch.records) {
              if (BigInt(r.offset) >= (end.get(batch.partition) ?? 0n)) break;
              list.push(r);
              ctx.resolveOffset(r.offset);
            }
            out.set(batch.partition, list);
            advance(batch.partition, BigInt(batch.nextOffset));
          },
          onSkipped: (_t, partition, _from, next) => advance(partition, BigInt(next)),
        })
        .catch(reject);
    });
  } finally {
    await consumer.close();
  }
  return out;
}
