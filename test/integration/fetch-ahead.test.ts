import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { ConsumedBatch, KafkaClient } from '../../src/kafka/index.js';
import { createFetcher } from '../../src/kafka/kafkajs-fetcher.js';
import { installKafkajsFastpath } from '../../src/kafka/kafkajs-fastpath.js';
import { testKafka, unique, waitFor } from '../support/env.js';

const PARTITIONS = 3;
const PER_PARTITION = 300;
/** Records per partition in each transaction (each transaction then takes one offset more, its marker). */
const TX = 25;

/** Committed records in small transactions (so the log holds markers between them), by partition. */
async function fill(client: KafkaClient, topic: string): Promise<Map<number, string[]>> {
  const producer = await client.producer({ transactionalId: unique('fetch-ahead') });
  const sent = new Map<number, string[]>();
  try {
    for (let i = 0; i < PER_PARTITION; i += TX) {
      const tx = await producer.transaction();
      const records = [];
      for (let p = 0; p < PARTITIONS; p++) {
        for (let k = i; k < i + TX; k++) {
          const value = `p${p}-${k}-${'x'.repeat(40)}`;
          records.push({ key: Buffer.from(String(k)), value: Buffer.from(value), partition: p });
          sent.set(p, [...(sent.get(p) ?? []), value]);
        }
      }
      await tx.send(topic, records);
      await tx.commit();
    }
  } finally {
    await producer.close();
  }
  // A commit returns before its markers are written; until then the last transaction is open and
  // the readable end (the last stable offset) is before it.
  const admin = await client.admin();
  await waitFor('the last commit markers', async () => ((await admin.watermarks(topic)).every((w) => BigInt(w.high) === BigInt((PER_PARTITION / TX) * (TX + 1))) ? true : undefined));
  return sent;
}

/**
 * Consumes with fetchAhead the way the replay does: a batch is handled from where the handler has
 * got to (`expected`); one fetched past that is refused with a seek back. `stopShort` makes the
 * handler leave some batches half done and seek back, as the replay does after a failure.
 */
async function consume(client: KafkaClient, topic: string, stopShort: (batch: ConsumedBatch, n: number) => boolean, overlapRounds = false): Promise<{ seen: Map<number, string[]>; refused: number; repeated: number }> {
  const admin = await client.admin();
  const end = new Map((await admin.watermarks(topic)).map((m) => [m.partition, BigInt(m.high)]));
  const expected = new Map<number, bigint>([...end.keys()].map((p) => [p, 0n]));
  const seen = new Map<number, string[]>();
  let refused = 0;
  let repeated = 0;
  let batches = 0;
  // Partitions with a batch in onBatch: a second batch of one of them fails the run.
  const inside = new Set<number>();
  // Small fetches: many rounds, each fetched while the one before is handled.
  const consumer = await client.consumer({ groupId: unique('fetch-ahead'), readCommitted: true, fromBeginning: true, maxBytesPerPartition: 2_048, partitionsConcurrently: PARTITIONS, fetchAhead: true, overlapRounds });
  try {
    await consumer.subscribe([topic]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out at ${JSON.stringify([...expected].map(([p, o]) => [p, o.toString()]))}`)), 60_000);
      const check = (): void => {
        if ([...expected].every(([p, o]) => o >= (end.get(p) ?? 0n))) {
          clearTimeout(timer);
          resolve();
        }
      };
      void consumer.run({
        onBatch: async (batch) => {
          if (inside.has(batch.partition)) throw new Error(`two batches of partition ${batch.partition} in onBatch at once`);
          inside.add(batch.partition);
          try {
            await handleBatch(batch);
          } finally {
            inside.delete(batch.partition);
          }
        },
        onSkipped: (_t, partition, from, next) => {
          if (BigInt(from) <= (expected.get(partition) ?? 0n)) expected.set(partition, BigInt(next));
          check();
        },
      }).catch(reject);
      const handleBatch = async (batch: ConsumedBatch): Promise<void> => {
        const at = expected.get(batch.partition) ?? 0n;
        if (BigInt(batch.fetchedOffset) > at) {
          refused++;
          consumer.seek(topic, batch.partition, at.toString());
          return;
        }
        const records = batch.records.filter((r) => BigInt(r.offset) >= at);
        repeated += batch.records.length - records.length;
        const take = stopShort(batch, batches++) ? Math.ceil(records.length / 2) : records.length;
        const list = seen.get(batch.partition) ?? [];
        for (const r of records.slice(0, take)) list.push(r.value?.toString() ?? '');
        seen.set(batch.partition, list);
        const last = records[take - 1];
        expected.set(batch.partition, take < records.length && last ? BigInt(last.offset) + 1n : BigInt(batch.nextOffset) > at ? BigInt(batch.nextOffset) : at);
        // Left half done: the consumer has moved past the batch, so it must be told where to go on.
        if (take < records.length) consumer.seek(topic, batch.partition, String(expected.get(batch.partition)));
        // Give the next fetch time to overlap this batch (and partitions different times).
        await new Promise((r) => setTimeout(r, 2 + 3 * batch.partition));
        check();
      };
    });
  } finally {
    await consumer.close();
  }
  return { seen, refused, repeated };
}

describe('fetching ahead', () => {
  const kafka = testKafka();

  it('is what the consumer runs with: kafkajs fetches through the replacement fetcher', () => {
    expect(installKafkajsFastpath().installed).toBe(true);
    const require = createRequire(import.meta.url);
    expect(require('kafkajs/src/consumer/fetcher.js')).toBe(createFetcher);
  });

  it('hands over every committed record once and in order, the next batches fetched while one is handled', async () => {
    const topic = await kafka.topic('fetch-ahead', PARTITIONS);
    const sent = await fill(kafka.client, topic);
    const { seen, refused, repeated } = await consume(kafka.client, topic, () => false);
    for (let p = 0; p < PARTITIONS; p++) expect(seen.get(p)).toEqual(sent.get(p));
    // Nothing was fetched twice: each fetch ahead started past the batches being handled.
    expect(repeated).toBe(0);
    expect(refused).toBe(0);
  });

  it('with rounds overlapping: every record once and in order, one batch of a partition in a handler at a time', async () => {
    const topic = await kafka.topic('fetch-ahead-overlap', PARTITIONS);
    const sent = await fill(kafka.client, topic);
    const { seen, repeated } = await consume(kafka.client, topic, () => false, true);
    for (let p = 0; p < PARTITIONS; p++) expect(seen.get(p)).toEqual(sent.get(p));
    expect(repeated).toBe(0);
    // And when handlers stop short and seek back.
    const short = await kafka.topic('fetch-ahead-overlap-short', PARTITIONS);
    const sentShort = await fill(kafka.client, short);
    const stopped = await consume(kafka.client, short, (batch, n) => batch.records.length > 1 && (n % 3 === 0 || BigInt(batch.nextOffset) >= BigInt(PER_PARTITION)), true);
    for (let p = 0; p < PARTITIONS; p++) expect(stopped.seen.get(p)).toEqual(sentShort.get(p));
  });

  it('a handler that stops short and seeks back gets the rest, even at the end of the log', async () => {
    const topic = await kafka.topic('fetch-ahead-short', PARTITIONS);
    const sent = await fill(kafka.client, topic);
    // Every third batch is left half done, and every partition's last one.
    const { seen } = await consume(kafka.client, topic, (batch, n) => batch.records.length > 1 && (n % 3 === 0 || BigInt(batch.nextOffset) >= BigInt(PER_PARTITION)));
    for (let p = 0; p < PARTITIONS; p++) expect(seen.get(p)).toEqual(sent.get(p));
  });
});
