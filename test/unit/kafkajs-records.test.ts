import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { chunkRows, originalKafkajs, rng } from './helpers.js';
import { fastBatch } from '../../src/kafka/kafkajs-fastpath.js';
import { LazyRecord, decimal, makeRecordBatchDecoder, materialize, rawView } from '../../src/kafka/kafkajs-records.js';
import { packChunk, unpackChunk } from '../../src/replay/workers.js';

const require = createRequire(import.meta.url);

const kafkajsBatchEncoder = originalKafkajs<{ RecordBatch: (args: object) => Promise<{ buffer: Buffer }> }>('kafkajs/src/protocol/recordBatch/v0/index.js').RecordBatch;
const kafkajsRecord = originalKafkajs<(args: object) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsBatchDecoder = originalKafkajs<(d: unknown) => Promise<{ records: unknown[] }>>('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { offset: number };
const compression = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes: (a: number) => never; Types: { GZIP: number } };
const errors = require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: new (m: string) => Error };
const KafkajsBatch = originalKafkajs<new (topic: string, fetchedOffset: string, data: object) => { messages: { offset: string }[]; messagesWithinOffset: unknown[]; lastOffset(): string; isEmpty(): boolean }>('kafkajs/src/consumer/batch.js');
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): never };
const filterAborted = require('kafkajs/src/consumer/filterAbortedMessages.js') as never;

const ours = makeRecordBatchDecoder({
  original: kafkajsBatchDecoder as never,
  lookupCodecByAttributes: compression.lookupCodecByAttributes,
  PartialMessageError: errors.KafkaJSPartialMessageError,
  logAppendTime: 1,
});

/** A record batch as the broker sends it: kafkajs's own encoder, some batches transactional, control, log-append time or gzipped. */
async function randomBatch(next: () => number, i: number, uncompressed = false): Promise<Buffer> {
  const count = 1 + Math.floor(next() * 30);
  const records = [];
  for (let k = 0; k < count; k++) {
    const headers: Record<string, Buffer | string | (Buffer | string)[]> = {};
    if (next() < 0.5) headers['reprocess.source'] = `1:${k}`;
    if (next() < 0.1) headers.dup = [Buffer.from('a'), 'b'];
    if (next() < 0.03) headers['__proto__'] = 'x';
    records.push(kafkajsRecord({
      offsetDelta: k * (next() < 0.2 ? 3 : 1),
      timestampDelta: Math.floor((next() - 0.3) * 1e6),
      key: next() < 0.2 ? null : Buffer.from(`key-${i}-${k}`),
      value: next() < 0.05 ? null : Buffer.from(Array.from({ length: Math.floor(next() * 120) }, () => Math.floor(next() * 256))),
      headers,
    }));
  }
  const attributes = (next() < 0.2 ? 0x10 : 0) | (next() < 0.05 ? 0x20 : 0) | (next() < 0.1 ? 0x08 : 0);
  const batch = await kafkajsBatchEncoder({
    compression: next() < 0.15 && !uncompressed ? compression.Types.GZIP : 0,
    firstOffset: Long.fromValue(String(Math.floor(next() * 1e9))),
    firstTimestamp: 1_700_000_000_000 + Math.floor(next() * 1e9),
    maxTimestamp: 1_700_000_100_000,
    lastOffsetDelta: count - 1,
    transactional: (attributes & 0x10) > 0,
    producerId: Long.fromValue(String(Math.floor(next() * 1e6))),
    records,
  });
  const buf = Buffer.from(batch.buffer);
  // kafkajs's encoder knows no control or timestamp-type flags: set them in the attributes (the CRC is not checked).
  buf.writeInt16BE(buf.readInt16BE(21) | attributes, 21);
  return buf;
}

describe('decimal', () => {
  it('writes every number as String does', () => {
    const next = rng(17);
    const edges = [0, -0, 1, -1, 999_999, 1e6, 1e6 + 1, 1_000_000_999_999, 1_733_000_000_000, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 2 ** 60, -1_733_000_000_000, 1.5, 1e21, NaN, Infinity];
    for (const n of edges) expect(decimal(n), String(n)).toBe(String(n));
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(next() * 10 ** Math.floor(next() * 16));
      expect(decimal(n)).toBe(String(n));
    }
  });
});

describe('lazy records', () => {
  it('read every record batch exactly as kafkajs does, for 300 random batches, and leave the decoder where kafkajs does', async () => {
    const next = rng(17);
    for (let i = 0; i < 300; i++) {
      const one = await randomBatch(next, i);
      // Two batches back to back: the second must start where the first ended.
      const bytes = Buffer.concat([one, one]);
      const a = new Decoder(bytes);
      const b = new Decoder(bytes);
      const theirs = await kafkajsBatchDecoder(a);
      const mine = (await ours(b as never)) as { records: unknown[] };
      expect(b.offset, `batch ${i}: offset after`).toBe(a.offset);
      expect({ ...mine, records: mine.records.map(materialize) }, `batch ${i}`).toEqual(theirs);
      expect(mine.records.every((r) => r instanceof LazyRecord || rawView(r) === null)).toBe(true);
    }
  });

  it('say where their key and value lie', async () => {
    const next = rng(5);
    const buf = await randomBatch(next, 0);
    const batch = (await ours(new Decoder(buf) as never)) as { records: LazyRecord[] };
    for (const r of batch.records) {
      const v = rawView(r);
      if (!v) throw new Error('not a lazy record');
      expect(v.valueLength < 0 ? null : v.buffer.subarray(v.valueStart, v.valueStart + v.valueLength)).toEqual(r.value);
      expect(v.keyLength < 0 ? null : v.buffer.subarray(v.keyStart, v.keyStart + v.keyLength)).toEqual(r.key);
      expect(String(v.offset)).toBe(r.offset);
    }
  });
});

describe('the fast path\'s Batch', () => {
  it('keeps, drops and reports what kafkajs\'s Batch does, for 200 random fetches', async () => {
    const Batch = fastBatch(KafkajsBatch as never, Long as never, filterAborted) as unknown as typeof KafkajsBatch;
    const next = rng(29);
    for (let i = 0; i < 200; i++) {
      const messages: unknown[] = [];
      const buf = await randomBatch(next, i);
      const decoded = (await ours(new Decoder(buf) as never)) as { records: LazyRecord[] };
      for (const r of decoded.records) messages.push(next() < 0.5 ? r : materialize(r));
      const offsets = decoded.records.map((r) => Number(r.offset));
      const fetchedOffset = String(offsets[Math.floor(next() * offsets.length)] ?? 0);
      const abortedTransactions = next() < 0.2 ? [{ producerId: decoded.records[0]?.batchContext.producerId, firstOffset: fetchedOffset }] : [];
      const data = { partition: 0, highWatermark: '99999999999', abortedTransactions, messages };
      const theirs = new KafkajsBatch('t', fetchedOffset, data);
      const mine = new Batch('t', fetchedOffset, data);
      expect(mine.messages.map((m) => m.offset), `fetch ${i}`).toEqual(theirs.messages.map((m) => m.offset));
      expect(mine.lastOffset()).toBe(theirs.lastOffset());
      expect(mine.isEmpty()).toBe(theirs.isEmpty());
    }
  });
});

describe('packing a chunk for the processing thread', () => {
  it('copies records read in place as one stretch, across record batches, and unpacks to the same records as the per-record copy', async () => {
    const next = rng(41);
    // Three record batches in one fetched block, as a fetch response holds them: each is a Buffer of its own over the block.
    const block = Buffer.concat([await randomBatch(next, 1, true), await randomBatch(next, 2, true), await randomBatch(next, 3, true)]);
    const d = new Decoder(block);
    const lazy: LazyRecord[] = [];
    for (let b = 0; b < 3; b++) lazy.push(...((await ours(d as never)) as { records: LazyRecord[] }).records);
    const plain = lazy.map((r) => materialize(r) as LazyRecord);
    const fromLazy = packChunk(lazy, 3);
    const fromPlain = packChunk(plain, 3);
    expect(fromLazy.offsets).toBeInstanceOf(Float64Array);
    // Plain records' offsets and timestamps are text, and numbers exactly: sent as numbers too.
    expect(fromPlain.offsets).toBeInstanceOf(Float64Array);
    const rows = (rs: readonly { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null }[]) => rs.map((r) => [r.offset, r.timestamp, r.key?.toString('hex') ?? null, r.value?.toString('hex') ?? null]);
    expect(chunkRows(unpackChunk(fromLazy))).toEqual(chunkRows(unpackChunk(fromPlain)));
    expect(chunkRows(unpackChunk(fromLazy))).toEqual(rows(plain));
    // Records from two blocks go one by one.
    const one = await randomBatch(next, 4, true);
    const own = Buffer.from(new ArrayBuffer(one.length));
    one.copy(own);
    const other = (await ours(new Decoder(own) as never)) as { records: LazyRecord[] };
    const mixed = packChunk([...lazy, ...other.records], 3);
    expect(chunkRows(unpackChunk(mixed))).toEqual(rows([...plain, ...other.records]));
  });
});
