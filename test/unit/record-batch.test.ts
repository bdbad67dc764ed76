import { describe, expect, it } from 'vitest';
import { rng } from './helpers.js';
import { BATCH_HEADER, EncodedBatchBuilder, crc32c, crc32cCombine, crc32cJs, decodeEncodedBatch, nativeCrc32c, uvarintSize, writeEncodedBatchHeader, writeUVarint } from '../../src/kafka/record-batch.js';

const bytes = (next: () => number, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));

describe('crc32c', () => {
  it('matches the published check values (RFC 3720 B.4), in JavaScript and natively', () => {
    const check: Array<[Buffer, number]> = [
      [Buffer.from('123456789'), 0xe3069283],
      [Buffer.alloc(32, 0x00), 0x8a9136aa],
      [Buffer.alloc(32, 0xff), 0x62a8ab43],
      [Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
      [Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
    ];
    for (const [buf, crc] of check) {
      expect(crc32cJs(buf)).toBe(crc);
      if (nativeCrc32c !== null) expect(nativeCrc32c(buf) >>> 0).toBe(crc);
    }
  });

  it('uses the native CRC-32C where @node-rs/crc32 has a build (Linux x64 among them), and it agrees with JavaScript at every length and alignment', () => {
    if (process.platform === 'linux' && process.arch === 'x64' && process.env.REPROCESS_NATIVE_CRC !== '0') expect(nativeCrc32c).not.toBeNull();
    const next = rng(11);
    const memory = bytes(next, 70_000);
    for (let i = 0; i < 400; i++) {
      const from = Math.floor(next() * 16);
      const length = i < 100 ? i : Math.floor(next() * 65_000);
      const buf = memory.subarray(from, from + length);
      expect(crc32c(buf), `length ${length} at ${from}`).toBe(crc32cJs(buf));
      if (nativeCrc32c !== null) expect(nativeCrc32c(buf) >>> 0, `length ${length} at ${from}`).toBe(crc32cJs(buf));
    }
  });
});

describe('unsigned varints', () => {
  /** Seven bits a byte, low first, the high bit on every byte but the last: by BigInt, no shortcuts. */
  const reference = (v: number): number[] => {
    const out: number[] = [];
    let x = BigInt(v);
    do {
      const low = Number(x & 0x7fn);
      x >>= 7n;
      out.push(x > 0n ? low | 0x80 : low);
    } while (x > 0n);
    return out;
  };

  it('sizes and writes every boundary up to 2^53 as the seven-bits-a-byte encoding does', () => {
    const next = rng(5);
    const values: number[] = [];
    for (let v = 0; v < 300; v++) values.push(v);
    for (let bits = 7; bits <= 53; bits++) values.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
    for (let i = 0; i < 500; i++) values.push(Math.floor(next() * 2 ** Math.floor(next() * 54)));
    const buf = Buffer.alloc(16);
    for (const v of values.filter((x) => x <= Number.MAX_SAFE_INTEGER)) {
      const want = reference(v);
      expect(uvarintSize(v), String(v)).toBe(want.length);
      buf.fill(0xee);
      expect(writeUVarint(buf, 3, v), String(v)).toBe(3 + want.length);
      expect([...buf.subarray(3, 3 + want.length)], String(v)).toEqual(want);
    }
  });
});

describe('crc32cCombine', () => {
  it('gives the CRC-32C of A followed by B, for 500 random splits (B empty and large included)', () => {
    const next = rng(3);
    for (let i = 0; i < 500; i++) {
      const a = bytes(next, Math.floor(next() * 100));
      const b = bytes(next, i % 50 === 0 ? 0 : i % 50 === 1 ? 300_000 : Math.floor(next() * 2_000));
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length), `split ${i}`).toBe(crc32c(Buffer.concat([a, b])));
    }
  });
});

describe('EncodedBatchBuilder', () => {
  it('writes the source header as "<partition>:<offset>" from numbers, or from an offset given as text', () => {
    const builder = new EncodedBatchBuilder(Number.POSITIVE_INFINITY);
    const cases: [number, number | string, string][] = [
      [0, 0, '0:0'], [7, 9, '7:9'], [10, 10, '10:10'], [123, 99_999, '123:99999'], [4, 100_000, '4:100000'],
      [2_147_483_647, Number.MAX_SAFE_INTEGER, `2147483647:${Number.MAX_SAFE_INTEGER}`], [1, '9007199254740993', '1:9007199254740993'], [1, '0', '1:0'],
    ];
    for (const [p, o] of cases) builder.add(0, null, Buffer.from('v'), 1, 1, 'reprocess.source', p, o);
    const [batch] = builder.finish().batches;
    if (!batch) throw new Error('no batch');
    expect(decodeEncodedBatch(batch).map((r) => String(r.headers['reprocess.source']))).toEqual(cases.map((c) => c[2]));
    for (const [p, o] of [[-1, 0], [0.5, 0], [0, -1], [0, 1.5], [0, 2 ** 53], [0, '-1'], [0, '1e3'], [0, '']] as [number, number | string][]) {
      expect(() => builder.add(0, null, Buffer.from('v'), 1, 1, 'h', p, o)).toThrow(RangeError);
    }
    // Nothing of a refused record was written.
    expect(builder.finish().batches).toEqual([]);
  });

  it('reads back as the records added, per partition in order, with their timestamps, keys and header', () => {
    const next = rng(7);
    const builder = new EncodedBatchBuilder(Number.POSITIVE_INFINITY, 8);
    const added = new Map<number, { key: string | null; value: string; timestamp: string; source: string }[]>();
    for (let i = 0; i < 2_000; i++) {
      const partition = Math.floor(next() * 5);
      const key = next() < 0.1 ? null : bytes(next, Math.floor(next() * 90));
      const value = bytes(next, Math.floor(next() * 400));
      // Earlier and later than the batch's first record: deltas of either sign.
      const timestamp = 1_700_000_000_000 + Math.floor((next() - 0.5) * 1e10);
      builder.add(partition, key, value, value.length, timestamp, 'reprocess.source', partition, i);
      const list = added.get(partition) ?? [];
      list.push({ key: key?.toString('hex') ?? null, value: value.toString('hex'), timestamp: String(timestamp), source: `${partition}:${i}` });
      added.set(partition, list);
    }
    const { batches, transfer } = builder.finish();
    expect(batches.map((b) => b.partition).sort()).toEqual([...added.keys()].sort());
    for (const b of batches) {
      const want = added.get(b.partition) ?? [];
      expect(b.records.buffer).toBe(transfer);
      expect(b.crc).toBe(crc32c(b.records));
      expect(b.count).toBe(want.length);
      expect(b.firstTimestamp).toBe(Number(want[0]?.timestamp));
      expect(b.maxTimestamp).toBe(Math.max(...want.map((w) => Number(w.timestamp))));
      const got = decodeEncodedBatch(b).map((r) => ({ key: r.key?.toString('hex') ?? null, value: r.value?.toString('hex') ?? '', timestamp: r.timestamp, source: r.headers['reprocess.source']?.toString() }));
      expect(got).toEqual(want);
    }
    expect(builder.finish().batches).toEqual([]);
  });

  it('builds in buffers it reuses, but never hands out memory a later builder writes: batches stay as built', () => {
    const next = rng(31);
    const build = (seed: number, records: number): { batches: ReturnType<EncodedBatchBuilder['finish']>['batches']; want: string[][] } => {
      const builder = new EncodedBatchBuilder(Number.POSITIVE_INFINITY, 64);
      const want: string[][] = [[], [], []];
      for (let i = 0; i < records; i++) {
        const value = bytes(next, 1 + Math.floor(next() * 300));
        const partition = (i + seed) % 3;
        builder.add(partition, null, value, value.length, 1_700_000_000_000, 'h', 0, i);
        want[partition]?.push(value.toString('hex'));
      }
      return { batches: builder.finish().batches, want };
    };
    const built = [build(0, 3_000), build(1, 200), build(2, 5_000), build(0, 10)];
    for (const { batches, want } of built) {
      for (const b of batches) {
        expect(b.crc).toBe(crc32c(b.records));
        expect(decodeEncodedBatch(b).map((r) => r.value?.toString('hex'))).toEqual(want[b.partition]);
      }
    }
    // Two builders at once (a replay without processing threads interleaves chunks): apart.
    const a = new EncodedBatchBuilder(Number.POSITIVE_INFINITY, 64);
    const b = new EncodedBatchBuilder(Number.POSITIVE_INFINITY, 64);
    for (let i = 0; i < 2_000; i++) {
      a.add(0, null, Buffer.alloc(50, 0xaa), 50, 1, 'h', 0, i);
      b.add(0, null, Buffer.alloc(50, 0xbb), 50, 1, 'h', 0, i);
    }
    const [ab] = a.finish().batches;
    const [bb] = b.finish().batches;
    expect(decodeEncodedBatch(ab as NonNullable<typeof ab>).every((r) => r.value?.every((x) => x === 0xaa))).toBe(true);
    expect(decodeEncodedBatch(bb as NonNullable<typeof bb>).every((r) => r.value?.every((x) => x === 0xbb))).toBe(true);
  });

  it('starts another batch for a partition before one would pass the limit; a record over it goes alone', () => {
    const builder = new EncodedBatchBuilder(1_000);
    for (let i = 0; i < 10; i++) builder.add(0, null, Buffer.alloc(300, i), 300, 1_000 + i, 'h', 0, i);
    builder.add(1, null, Buffer.alloc(5_000, 1), 5_000, 5, 'h', 1, 0);
    builder.add(1, null, Buffer.alloc(10, 2), 10, 6, 'h', 1, 1);
    const { batches } = builder.finish();
    const zero = batches.filter((b) => b.partition === 0);
    expect(zero.map((b) => b.count)).toEqual([3, 3, 3, 1]);
    for (const b of zero) expect(b.records.length).toBeLessThanOrEqual(1_000);
    expect(zero.flatMap((b) => decodeEncodedBatch(b).map((r) => r.value?.[0]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches.filter((b) => b.partition === 1).map((b) => b.count)).toEqual([1, 1]);
  });

  it('takes a key as an ASCII string and a value as the front of a larger buffer, as the same bytes', () => {
    const a = new EncodedBatchBuilder(1 << 20);
    const b = new EncodedBatchBuilder(1 << 20);
    const scratch = Buffer.alloc(4096, 0xee);
    for (let i = 0; i < 100; i++) {
      const key = `8b0e7d2c-4f1a-4c3e-9d5b-${String(i).padStart(12, '0')}${'x'.repeat(i % 60)}`;
      const value = Buffer.alloc(i * 7, i);
      value.copy(scratch);
      a.add(0, key, scratch, value.length, 1_000 + i, 'reprocess.source', 0, i);
      b.add(0, Buffer.from(key), value, value.length, 1_000 + i, 'reprocess.source', 0, String(i));
    }
    const [x] = a.finish().batches;
    const [y] = b.finish().batches;
    expect(x?.records.equals(y?.records ?? Buffer.alloc(0))).toBe(true);
    expect(x?.crc).toBe(y?.crc);
  });

  it('refuses a timestamp no batch can hold', () => {
    const builder = new EncodedBatchBuilder(1_000);
    builder.add(0, null, Buffer.from('a'), 1, 0, 'h', 0, 0);
    expect(() => builder.add(0, null, Buffer.from('b'), 1, 2 ** 53, 'h', 0, 1)).toThrow(/too far/);
  });
});

describe('writeEncodedBatchHeader', () => {
  it('seals the batch with the CRC-32C of its header and records together', () => {
    const builder = new EncodedBatchBuilder(1 << 20);
    for (let i = 0; i < 50; i++) builder.add(2, Buffer.from(`k${i}`), Buffer.alloc(i * 3, i), i * 3, 1_700_000_000_000 + i, 'reprocess.source', 2, i);
    const [batch] = builder.finish().batches;
    if (!batch) throw new Error('no batch');
    const buf = Buffer.alloc(BATCH_HEADER + batch.records.length);
    writeEncodedBatchHeader(buf, 0, batch, { producerId: 123_456_789n, producerEpoch: 7, firstSequence: 4_000, transactional: true });
    batch.records.copy(buf, BATCH_HEADER);
    expect(buf.readUInt32BE(17)).toBe(crc32c(buf.subarray(21)));
    expect(buf.readInt32BE(8)).toBe(buf.length - 12);
    expect(buf.readInt16BE(21)).toBe(16); // transactional
    expect(buf.readInt32BE(23)).toBe(49); // last offset delta
    expect(buf.readBigInt64BE(35)).toBe(1_700_000_000_049n); // max timestamp
    expect(buf.readBigInt64BE(43)).toBe(123_456_789n);
    expect(buf.readInt32BE(53)).toBe(4_000);
    expect(buf.readInt32BE(57)).toBe(50);
  });
});
