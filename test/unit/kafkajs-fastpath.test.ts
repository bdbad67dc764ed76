import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { originalKafkajs, rng } from './helpers.js';
import { FRAME_ROOM, crc32c, encodeProduceRequestV3, encodeRecordBatchV2, encodeRecordV0, encodedPartitionMessages, frameRequest, makeRecordDecoder } from '../../src/kafka/kafkajs-fastpath.js';
import { EncodedBatchBuilder } from '../../src/kafka/record-batch.js';

const require = createRequire(import.meta.url);

const kafkajsRecord = originalKafkajs<(args: object) => { buffer: Buffer }>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsBatch = originalKafkajs<{ RecordBatch: (args: object) => Promise<{ buffer: Buffer }> }>('kafkajs/src/protocol/recordBatch/v0/index.js').RecordBatch;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
const kafkajsProduce = originalKafkajs<(args: object) => { encode(): Promise<{ buffer: Buffer }> }>('kafkajs/src/protocol/requests/produce/v3/request.js');
const kafkajsRecordDecoder = originalKafkajs<(d: unknown, c?: object) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const KafkajsDecoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { offset: number };
const kafkajsRequest = originalKafkajs<(args: object) => Promise<{ buffer: Buffer }>>('kafkajs/src/protocol/request.js');
const kafkajsCrc = originalKafkajs<(b: Buffer) => number>('kafkajs/src/protocol/recordBatch/crc32C/index.js');

const pick = (next: () => number, from: readonly number[]): number => from[Math.floor(next() * from.length)] as number;

describe('kafkajs fast path: CRC-32C', () => {
  it('matches the known check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('matches kafkajs on every length from 0 to 300 and on large buffers', () => {
    const next = rng(7);
    for (let n = 0; n <= 300; n++) {
      const b = Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
      expect(crc32c(b), `length ${n}`).toBe(kafkajsCrc(b));
    }
    const big = Buffer.from(Array.from({ length: 200_003 }, () => Math.floor(next() * 256)));
    expect(crc32c(big)).toBe(kafkajsCrc(big));
    // A view into a larger buffer starts at its own offset, aligned to a word or not.
    for (let from = 0; from < 8; from++) {
      for (const n of [0, 1, 3, 4, 15, 16, 17, 33, 1000]) {
        const view = big.subarray(from, from + n);
        expect(crc32c(view), `from ${from}, length ${n}`).toBe(kafkajsCrc(view));
      }
    }
  });
});

describe('kafkajs fast path: record encoding', () => {
  const text = (next: () => number, max: number): string =>
    Array.from({ length: Math.floor(next() * max) }, () => (next() < 0.1 ? 'é€😀'[Math.floor(next() * 3)] : String.fromCharCode(97 + Math.floor(next() * 26)))).join('');
  const bytes = (next: () => number, max: number): Buffer => Buffer.from(Array.from({ length: Math.floor(next() * max) }, () => Math.floor(next() * 256)));
  const maybe = (next: () => number, max: number): Buffer | string | null | undefined => {
    const r = next();
    return r < 0.1 ? null : r < 0.15 ? undefined : r < 0.35 ? text(next, max) : bytes(next, max);
  };

  it('writes the bytes kafkajs writes, for 5,000 random records', () => {
    const next = rng(42);
    for (let i = 0; i < 5_000; i++) {
      const headers: Record<string, string | Buffer | (string | Buffer)[]> = {};
      const nh = Math.floor(next() * 4);
      for (let h = 0; h < nh; h++) headers[text(next, 12) || 'h'] = next() < 0.2 ? [bytes(next, 20), text(next, 20)] : next() < 0.5 ? text(next, 40) : bytes(next, 40);
      const scale = [1, 100, 70_000, 2 ** 31, 2 ** 40][Math.floor(next() * 5)] as number;
      const args = {
        offsetDelta: Math.floor(next() * pick(next, [1, 200, 100_000])),
        timestampDelta: Math.floor((next() - 0.3) * scale),
        key: maybe(next, 40),
        value: next() < 0.05 ? bytes(next, 70_000) : maybe(next, 400),
        ...(next() < 0.8 ? { headers } : {}),
      };
      const mine = encodeRecordV0(args);
      expect(mine, `record ${i} was left to kafkajs`).not.toBeNull();
      expect(mine?.equals(kafkajsRecord(args).buffer), `record ${i}: ${JSON.stringify(args).slice(0, 300)}`).toBe(true);
    }
  });

  it('leaves what it does not handle exactly like kafkajs to kafkajs', () => {
    expect(encodeRecordV0({ value: Buffer.from('x'), timestampDelta: 1.5 })).toBeNull();
    expect(encodeRecordV0({ value: Buffer.from('x'), timestampDelta: 2 ** 60 })).toBeNull();
    expect(encodeRecordV0({ value: 42 as unknown as string })).toBeNull();
    expect(encodeRecordV0({ value: Buffer.from('x'), headers: { a: null } })).toBeNull();
  });
});

describe('kafkajs fast path: record batch encoding', () => {
  it('writes the bytes kafkajs writes, for 300 random batches', async () => {
    const next = rng(9);
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(next() * 60);
      const records = Array.from({ length: n }, (_, k) => {
        const value = Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256)));
        return kafkajsRecord({ offsetDelta: k, timestampDelta: Math.floor(next() * 1000), key: next() < 0.5 ? null : `k${k}`, value, headers: { 'reprocess.source': `0:${k}` } });
      });
      const ts = 1_700_000_000_000 + Math.floor(next() * 1e9);
      const args = {
        compression: 0,
        firstOffset: Long.fromValue(Math.floor(next() * 1e6)),
        firstTimestamp: next() < 0.5 ? ts : String(ts),
        maxTimestamp: next() < 0.5 ? ts + 5 : String(ts + 5),
        lastOffsetDelta: n - 1,
        transactional: next() < 0.5,
        producerId: Long.fromValue(Math.floor(next() * 1e12)),
        producerEpoch: Math.floor(next() * 100),
        firstSequence: Math.floor(next() * 1e6),
        records,
      };
      const mine = encodeRecordBatchV2(args);
      expect(mine, `batch ${i} was left to kafkajs`).not.toBeNull();
      expect(mine?.equals((await kafkajsBatch(args)).buffer), `batch ${i}`).toBe(true);
    }
  });

  it('leaves compressed batches to kafkajs', () => {
    expect(encodeRecordBatchV2({ compression: 1, records: [] })).toBeNull();
  });
});

describe('kafkajs fast path: produce request encoding', () => {
  it('writes the bytes kafkajs writes, for 200 random requests', async () => {
    const next = rng(11);
    const realNow = Date.now;
    try {
      for (let i = 0; i < 200; i++) {
        const now = 1_750_000_000_000 + i;
        // Both encoders read the clock for records without a timestamp: the same instant for both.
        Date.now = () => now;
        const topicData = Array.from({ length: 1 + Math.floor(next() * 3) }, (_, t) => ({
          topic: `topic-${t}-${'é'.repeat(t)}`,
          partitions: Array.from({ length: 1 + Math.floor(next() * 4) }, (_, p) => ({
            partition: p,
            firstSequence: Math.floor(next() * 1000),
            messages: Array.from({ length: 1 + Math.floor(next() * 40) }, (_, k) => {
              const r = next();
              const timestamp = r < 0.1 ? undefined : r < 0.2 ? 1_700_000_000_000 + k : r < 0.3 ? String(999_000_000_000 + k) : String(1_700_000_000_000 + Math.floor(next() * 1e9));
              const headers = next() < 0.3 ? undefined : next() < 0.8 ? { 'reprocess.source': `${p}:${k}` } : { a: [Buffer.from([1, 2]), 'x'], b: 'ü' };
              return {
                key: next() < 0.2 ? null : next() < 0.5 ? `key-${k}` : Buffer.from([k, k + 1]),
                value: next() < 0.05 ? null : Buffer.from(Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256))),
                ...(timestamp === undefined ? {} : { timestamp }),
                ...(headers ? { headers } : {}),
              };
            }),
          })),
        }));
        const transactional = next() < 0.5;
        const args = {
          acks: -1,
          timeout: 30_000,
          compression: 0,
          topicData,
          ...(transactional ? { transactionalId: `tx-${i}`, producerId: Long.fromValue(Math.floor(next() * 1e9)), producerEpoch: Math.floor(next() * 50) } : {}),
        };
        const mine = encodeProduceRequestV3(args, now);
        expect(mine, `request ${i} was left to kafkajs`).not.toBeNull();
        expect(mine?.equals((await kafkajsProduce(args).encode()).buffer), `request ${i}`).toBe(true);
      }
    } finally {
      Date.now = realNow;
    }
  });

  it('writes batches encoded beforehand exactly as kafkajs writes their records, for 200 random requests', async () => {
    const next = rng(23);
    for (let i = 0; i < 200; i++) {
      const transactional = next() < 0.5;
      // The records a processing thread encodes: a key or none, a value, a source header, and a
      // timestamp (non-decreasing here: kafkajs bases a batch on its smallest, the builder on its first).
      const plain: { topic: string; partitions: { partition: number; firstSequence: number; messages: object[] }[] }[] = [];
      const encoded: { topic: string; partitions: { partition: number; firstSequence: number; messages: unknown }[] }[] = [];
      for (let t = 0; t < 1 + Math.floor(next() * 3); t++) {
        const topic = `topic-${t}`;
        const plainParts: (typeof plain)[number]['partitions'] = [];
        const encodedParts: (typeof encoded)[number]['partitions'] = [];
        for (let p = 0; p < 1 + Math.floor(next() * 4); p++) {
          const builder = new EncodedBatchBuilder(Number.POSITIVE_INFINITY, 1 + Math.floor(next() * 64));
          const messages: object[] = [];
          let ts = 1_700_000_000_000 + Math.floor(next() * 1e9);
          for (let k = 0; k < 1 + Math.floor(next() * 300); k++) {
            ts += Math.floor(next() * 3) * pick(next, [1, 1000, 1e7]);
            const key = next() < 0.2 ? null : Buffer.from(Array.from({ length: Math.floor(next() * 80) }, () => Math.floor(next() * 256)));
            const value = Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256)));
            const offset = Math.floor(next() * 1e12);
            messages.push({ key, value, timestamp: String(ts), headers: { 'reprocess.source': `${p}:${offset}` } });
            builder.add(p, key, value, value.length, ts, 'reprocess.source', p, offset);
          }
          const [batch, ...rest] = builder.finish().batches;
          expect(rest).toHaveLength(0);
          const firstSequence = Math.floor(next() * 1e6);
          plainParts.push({ partition: p, firstSequence, messages });
          // Mixed: some partitions of the request encoded, some not.
          encodedParts.push({ partition: p, firstSequence, messages: next() < 0.8 && batch ? encodedPartitionMessages(batch) : messages });
        }
        plain.push({ topic, partitions: plainParts });
        encoded.push({ topic, partitions: encodedParts });
      }
      const common = { acks: -1, timeout: 30_000, compression: 0, ...(transactional ? { transactionalId: `tx-${i}`, producerId: Long.fromValue(Math.floor(next() * 1e9)), producerEpoch: Math.floor(next() * 50) } : {}) };
      const mine = encodeProduceRequestV3({ ...common, topicData: encoded } as never);
      expect(mine?.equals((await kafkajsProduce({ ...common, topicData: plain }).encode()).buffer), `request ${i}`).toBe(true);
    }
  });

  it('refuses to leave an encoded batch to kafkajs (compressed)', () => {
    const builder = new EncodedBatchBuilder(1024);
    builder.add(0, null, Buffer.from('v'), 1, 1, 'h', 0, 1);
    const [batch] = builder.finish().batches;
    if (!batch) throw new Error('no batch');
    const topicData = [{ topic: 't', partitions: [{ partition: 0, messages: encodedPartitionMessages(batch) }] }];
    expect(() => encodeProduceRequestV3({ acks: -1, timeout: 1, compression: 1, topicData })).toThrow(/uncompressed/);
  });

  it('leaves compressed requests and unusual messages to kafkajs', () => {
    const topicData = [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: null, value: Buffer.from('x') }] }] }];
    expect(encodeProduceRequestV3({ acks: -1, timeout: 1, compression: 1, topicData })).toBeNull();
    expect(encodeProduceRequestV3({ acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ value: 7 as unknown as string }] }] }] })).toBeNull();
    expect(encodeProduceRequestV3({ acks: -1, timeout: 1, topicData })).not.toBeNull();
  });
});

describe('kafkajs fast path: request frame', () => {
  it('frames a request exactly as kafkajs does, for 200 random requests', async () => {
    const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => { writeBytes(b: Buffer): unknown; buf: Buffer; offset: number };
    const next = rng(31);
    for (let i = 0; i < 200; i++) {
      const body = Buffer.from(Array.from({ length: i === 0 ? 0 : Math.floor(next() * 5_000) }, () => Math.floor(next() * 256)));
      const clientId = next() < 0.1 ? null : `client-${'ü'.repeat(Math.floor(next() * 3))}-${i}`;
      const apiKey = Math.floor(next() * 70);
      const apiVersion = Math.floor(next() * 12);
      const correlationId = Math.floor(next() * 2 ** 31);
      const encode = async () => {
        const e = new Encoder();
        e.buf = Buffer.from(body);
        e.offset = body.length;
        return e;
      };
      const theirs = await kafkajsRequest({ correlationId, clientId, request: { apiKey, apiVersion, encode } });
      expect(frameRequest(body, apiKey, apiVersion, correlationId, clientId).equals(theirs.buffer), `request ${i}`).toBe(true);
    }
  });
});

describe('kafkajs fast path: a produce request framed where it lies', () => {
  it('writes the frame into the room left before the request, the same bytes as framing a copy', () => {
    const builder = new EncodedBatchBuilder(1 << 20);
    for (let i = 0; i < 300; i++) builder.add(i % 3, `k${i}`, Buffer.alloc(50, i), 50, 1_700_000_000_000 + i, 'reprocess.source', 0, i);
    const topicData = [{ topic: 't', partitions: builder.finish().batches.map((b) => ({ partition: b.partition, firstSequence: 7, messages: encodedPartitionMessages(b) })) }];
    const args = { acks: -1, timeout: 30_000, compression: 0, topicData };
    const body = encodeProduceRequestV3(args, 1, FRAME_ROOM);
    if (!body) throw new Error('not encoded');
    expect(body.equals(encodeProduceRequestV3(args, 1) ?? Buffer.alloc(0))).toBe(true);
    for (const clientId of ['reprocess', null, 'ü'.repeat(120), 'x'.repeat(250)]) {
      const copied = frameRequest(Buffer.from(body), 0, 7, 12345, clientId);
      const framed = frameRequest(body, 0, 7, 12345, clientId);
      expect(framed.equals(copied), String(clientId)).toBe(true);
      // In place while the client id fits the room (a longer one is framed in a copy).
      expect(framed.buffer === body.buffer, String(clientId)).toBe(Buffer.byteLength(clientId ?? '') <= FRAME_ROOM - 14);
    }
    // A body without room, or a slice of a body with room, is framed in a copy.
    expect(frameRequest(body.subarray(1), 0, 7, 1, 'c').buffer).not.toBe(body.buffer);
  });
});

describe('kafkajs fast path: record decoding', () => {
  it('reads what kafkajs reads, for 3,000 random records, and leaves the offset where kafkajs does', () => {
    const next = rng(5);
    const mine = makeRecordDecoder(kafkajsRecordDecoder as never, 1);
    for (let i = 0; i < 3_000; i++) {
      const headers: Record<string, string | Buffer | (string | Buffer)[]> = {};
      if (next() < 0.7) headers['reprocess.source'] = `1:${i}`;
      if (next() < 0.2) headers.dup = [Buffer.from('a'), 'b', Buffer.from('c')];
      if (next() < 0.05) headers['__proto__'] = 'x';
      const record = kafkajsRecord({
        offsetDelta: Math.floor(next() * 5_000),
        timestampDelta: Math.floor((next() - 0.5) * pick(next, [10, 1e6, 2 ** 50, 2 ** 58])),
        key: next() < 0.3 ? null : Buffer.from(`k${i}`),
        value: next() < 0.05 ? null : Buffer.from(Array.from({ length: Math.floor(next() * 100) }, () => Math.floor(next() * 256))),
        headers,
      }).buffer;
      // Two records back to back: the second must start where the first ended.
      const bytes = Buffer.concat([record, record]);
      const context = {
        firstOffset: String([0, 123_456, 2 ** 62][Math.floor(next() * 3)]),
        firstTimestamp: String([1_700_000_000_000, -5, 2 ** 60][Math.floor(next() * 3)]),
        maxTimestamp: '1700000009999',
        magicByte: 2,
        isControlBatch: next() < 0.1,
        timestampType: next() < 0.1 ? 1 : 0,
      };
      const a = new KafkajsDecoder(bytes);
      const b = new KafkajsDecoder(bytes);
      // Past the record's length varint, as kafkajs's batch decoder leaves it.
      const length = new KafkajsDecoder(bytes) as unknown as { readVarInt(): number; offset: number };
      length.readVarInt();
      a.offset = b.offset = length.offset;
      expect(mine(b as never, context), `record ${i}`).toEqual(kafkajsRecordDecoder(a, context));
      expect(b.offset, `record ${i}: offset after`).toBe(a.offset);
    }
  });
});
