import { describe, expect, it } from 'vitest';
import { sliceForSend } from '../../src/kafka/kafkajs.js';
import type { OutRecord } from '../../src/kafka/index.js';

const rec = (partition: number | undefined, n: number): OutRecord => ({ key: Buffer.from(`k${n}`), value: Buffer.from(String(n)), ...(partition === undefined ? {} : { partition }) });

describe('sliceForSend', () => {
  it('keeps a small send whole', () => {
    const calls = sliceForSend([rec(0, 1), rec(1, 2)], 5);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.map((m) => m.value?.toString())).toEqual(['1', '2']);
  });

  it('with no record limit, keeps a send whole while each partition stays under the byte limit', () => {
    const records = Array.from({ length: 1_000 }, (_, n) => rec(n % 2, n));
    expect(sliceForSend(records, Number.POSITIVE_INFINITY)).toHaveLength(1);
  });

  it('cuts a partition at the byte limit (a record over it still goes, alone), each partition in its order', () => {
    const big = (partition: number, n: number, size: number): OutRecord => ({ key: null, value: Buffer.alloc(size, n), partition });
    const records = [big(0, 1, 300), big(0, 2, 300), big(1, 3, 100), big(0, 4, 700), big(0, 5, 50), big(1, 6, 100)];
    const calls = sliceForSend(records, Number.POSITIVE_INFINITY, 600);
    expect(calls.map((c) => c.map((m) => m.value?.[0]))).toEqual([[1, 2, 3, 6], [4], [5]]);
  });

  it('cuts a large send into calls of at most `slice` records per partition, each partition in its order', () => {
    const records = Array.from({ length: 23 }, (_, n) => rec(n % 3 === 0 ? 0 : n % 3 === 1 ? 1 : undefined, n));
    const calls = sliceForSend(records, 4);
    // Every record exactly once.
    expect(calls.flat().map((m) => Number(m.value?.toString())).sort((a, b) => a - b)).toEqual(records.map((_, n) => n));
    for (const call of calls) {
      const perPartition = new Map<number, number>();
      for (const m of call) perPartition.set(m.partition ?? -1, (perPartition.get(m.partition ?? -1) ?? 0) + 1);
      for (const n of perPartition.values()) expect(n).toBeLessThanOrEqual(4);
    }
    // Calls run one after another: concatenated, each partition's records are in their original order.
    for (const p of [0, 1, -1]) {
      const seen = calls.flat().filter((m) => (m.partition ?? -1) === p).map((m) => Number(m.value?.toString()));
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  });
});
