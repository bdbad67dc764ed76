import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { testEndpoints, testKafka, unique } from '../support/env.js';

interface RawAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  createTopics(o: { waitForLeaders: boolean; topics: { topic: string; numPartitions: number }[] }): Promise<boolean>;
  deleteTopics(o: { topics: string[] }): Promise<void>;
}

describe('offsets of a topic another client has just created', () => {
  const kafka = testKafka();

  it('are read once its partitions have a leader, not refused with NOT_LEADER_FOR_PARTITION', async () => {
    // Another process creating a topic and not waiting for its leaders (the catalog topic, made by
    // whichever worker comes first) is a plain kafkajs admin here.
    const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs') as { Kafka: new (o: object) => { admin(): RawAdmin }; logLevel: { NOTHING: number } };
    const other = new Kafka({ brokers: testEndpoints().kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await other.connect();
    const admin = await kafka.client.admin();
    const topics = Array.from({ length: 12 }, () => unique('fresh'));
    try {
      for (const topic of topics) {
        await other.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: 3 }] });
        // Before the fix most of these were refused: the broker answers NOT_LEADER_FOR_PARTITION
        // for a moment after creating a partition.
        expect(await admin.watermarks(topic)).toEqual([0, 1, 2].map((partition) => ({ partition, low: '0', high: '0' })));
        expect((await admin.offsetsForTimestamp(topic, 0)).map((o) => o.offset)).toEqual([null, null, null]);
      }
    } finally {
      await other.deleteTopics({ topics }).catch(() => undefined);
      await other.disconnect();
    }
  });
});
