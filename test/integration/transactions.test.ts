import { describe, expect, it } from 'vitest';
import { readAll } from '../support/consume.js';
import { testKafka, unique } from '../support/env.js';

const rec = (v: string) => ({ key: Buffer.from(v), value: Buffer.from(v) });

describe('transactions on the single-node broker', () => {
  const kafka = testKafka();

  it('a committed transaction is visible to read_committed, an aborted one is not', async () => {
    const topic = await kafka.topic('tx', 2);
    const producer = await kafka.client.producer({ transactionalId: unique('tx-test') });
    try {
      const committed = await producer.transaction();
      await committed.send(topic, [rec('c1'), rec('c2'), { ...rec('c3'), partition: 1 }]);
      await committed.commit();

      const aborted = await producer.transaction();
      await aborted.send(topic, [rec('a1'), { ...rec('a2'), partition: 1 }]);
      await aborted.abort();

      const last = await producer.transaction();
      await last.send(topic, [rec('c4')]);
      await last.commit();
    } finally {
      await producer.close();
    }

    const committedView = [...(await readAll(kafka.client, topic, { readCommitted: true })).values()].flat().map((r) => r.value?.toString());
    expect(committedView.sort()).toEqual(['c1', 'c2', 'c3', 'c4']);

    // The aborted records are in the log: read_uncommitted sees them.
    const uncommittedView = [...(await readAll(kafka.client, topic, { readCommitted: false })).values()].flat().map((r) => r.value?.toString());
    expect(uncommittedView.sort()).toEqual(['a1', 'a2', 'c1', 'c2', 'c3', 'c4']);
  });

  it('commits consumer offsets inside the transaction', async () => {
    const topic = await kafka.topic('tx-offsets', 1);
    const group = unique('tx-group');
    const producer = await kafka.client.producer({ transactionalId: unique('tx-offsets') });
    try {
      const tx = await producer.transaction();
      await tx.send(topic, [rec('x')]);
      await tx.sendOffsets(group, topic, [{ partition: 0, offset: '42' }]);
      await tx.commit();
      const aborted = await producer.transaction();
      await aborted.sendOffsets(group, topic, [{ partition: 0, offset: '99' }]);
      await aborted.abort();
    } finally {
      await producer.close();
    }
    const admin = await kafka.client.admin();
    expect(await admin.committedOffsets(group, topic)).toEqual([{ partition: 0, offset: '42' }]);
  });
});
