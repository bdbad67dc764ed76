import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { chunkRows, originalKafkajs, rng } from './helpers.js';
import { fastBatch } from '../../src/kafka/kafkajs-fastpath.js';
import { FetchedColumns, LazyRecord, decimal, makeDecodeMessages, makeRecordBatchDecoder, materialize } from '../../src/kafka/kafkajs-records.js';
import { columnsOf } from '../../src/kafka/columns.js';
import type { ConsumedRecord } from '../../src/kafka/index.js';
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

/**
 * A record batch as the broker sends it: kafkajs's own encoder, some batches transactional,
 * control, log-append time or gzipped. Given its first offset (a batch of a record set), its
 * offsets ascend, with gaps (compaction).
 */
async function randomBatch(next: () => number, i: number, uncompressed = false, firstOffset?: number, producerId?: number): Promise<Buffer> {
  const count = 1 + Math.floor(next() * 30);
  const records = [];
  let delta = 0;
  for (let k = 0; k < count; k++) {
    delta = firstOffset === undefined ? k * (next() < 0.2 ? 3 : 1) : k === 0 ? 0 : delta + (next() < 0.2 ? 3 : 1);
    const headers: Record<string, Buffer | string | (Buffer | string)[]> = {};
    if (next() < 0.5) headers['reprocess.source'] = `1:${k}`;
    if (next() < 0.1) headers.dup = [Buffer.from('a'), 'b'];
    if (next() < 0.03) headers['__proto__'] = 'x';
    records.push(kafkajsRecord({
      offsetDelta: delta,
      timestampDelta: Math.floor((next() - 0.3) * 1e6),
      key: next() < 0.2 ? null : Buffer.from(`key-${i}-${k}`),
      value: next() < 0.05 ? null : Buffer.from(Array.from({ length: Math.floor(next() * 120) }, () => Math.floor(next() * 256))),
      headers,
    }));
  }
  const attributes = (next() < 0.2 ? 0x10 : 0) | (next() < 0.05 ? 0x20 : 0) | (next() < 0.1 ? 0x08 : 0);
  const batch = await kafkajsBatchEncoder({
    compression: next() < 0.15 && !uncompressed ? compression.Types.GZIP : 0,
    firstOffset: Long.fromValue(String(firstOffset ?? Math.floor(next() * 1e9))),
    firstTimestamp: 1_700_000_000_000 + Math.floor(next() * 1e9),
    maxTimestamp: 1_700_000_100_000,
    lastOffsetDelta: firstOffset === undefined ? count - 1 : delta,
    transactional: (attributes & 0x10) > 0,
    producerId: Long.fromValue(String(producerId ?? Math.floor(next() * 1e6))),
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
      expect(mine.records.every((r) => r instanceof LazyRecord)).toBe(true);
    }
  });

  it('say where their key and value lie', async () => {
    const next = rng(5);
    const buf = await randomBatch(next, 0);
    const batch = (await ours(new Decoder(buf) as never)) as { records: LazyRecord[] };
    for (const r of batch.records) {
      if (!(r instanceof LazyRecord)) throw new Error('not a lazy record');
      const v = r.view;
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

/** A transaction marker batch: one control record whose key says abort (type 0) or commit (type 1). */
async function markerBatch(firstOffset: number, producerId: number, abort: boolean): Promise<Buffer> {
  const batch = await kafkajsBatchEncoder({
    compression: 0, firstOffset: Long.fromValue(String(firstOffset)), firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_000, lastOffsetDelta: 0,
    transactional: true, producerId: Long.fromValue(String(producerId)),
    records: [kafkajsRecord({ offsetDelta: 0, timestampDelta: 0, key: Buffer.from([0, 0, 0, abort ? 0 : 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]), headers: {} })],
  });
  const buf = Buffer.from(batch.buffer);
  buf.writeInt16BE(buf.readInt16BE(21) | 0x20, 21);
  return buf;
}

const kafkajsDecodeMessages = originalKafkajs<(d: unknown) => Promise<unknown[]>>('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js');
const decodeMessages = makeDecodeMessages(kafkajsDecodeMessages as never, 1);
const plainRecords = (m: unknown): unknown[] => (m instanceof FetchedColumns ? m.records() : (m as unknown[])).map(materialize);

/**
 * A fetched partition's record set: transactions of several producers, some committed, some
 * aborted, their markers, plain batches; offsets ascending. Optionally a gzipped batch, and the
 * last batch cut short (a fetch's size limit).
 */
async function recordSet(next: () => number, i: number, gzip: boolean): Promise<{ bytes: Buffer; aborted: { producerId: string; firstOffset: string }[]; offsets: number[] }> {
  const parts: Buffer[] = [];
  const aborted: { producerId: string; firstOffset: string }[] = [];
  const offsets: number[] = [];
  let offset = Math.floor(next() * 1e6);
  for (let k = 0; k < 1 + Math.floor(next() * 6); k++) {
    const producerId = 1 + Math.floor(next() * 3);
    const kind = next();
    if (kind < 0.15) {
      parts.push(await markerBatch(offset, producerId, next() < 0.5));
      offsets.push(offset);
      offset += 1;
      continue;
    }
    const batch = await randomBatch(next, i * 10 + k, !gzip || next() < 0.7, offset, producerId);
    const decoded = (await ours(new Decoder(batch) as never)) as { records: LazyRecord[]; inTransaction: boolean; lastOffsetDelta: number };
    if (decoded.inTransaction && next() < 0.4 && !aborted.some((a) => a.producerId === String(producerId))) aborted.push({ producerId: String(producerId), firstOffset: String(offset) });
    for (const r of decoded.records) offsets.push(Number(r.offset));
    parts.push(batch);
    offset += decoded.lastOffsetDelta + 1 + Math.floor(next() * 2);
  }
  let bytes = Buffer.concat(parts);
  if (next() < 0.2) bytes = bytes.subarray(0, bytes.length - 1 - Math.floor(next() * 20));
  return { bytes, aborted, offsets };
}

describe('a fetched record set read as columns', () => {
  it('holds the records kafkajs reads, and its Batch keeps, drops and reports what kafkajs\'s does, for 300 random fetches', { timeout: 60_000 }, async () => {
    const Batch = fastBatch(KafkajsBatch as never, Long as never, filterAborted) as unknown as new (t: string, f: string, d: object) => Record<string, () => unknown> & { messages: { length: number; [n: number]: { offset: string } | undefined } };
    const Theirs = KafkajsBatch as unknown as typeof Batch;
    const next = rng(31);
    let columns = 0;
    let dropped = 0;
    for (let i = 0; i < 300; i++) {
      const { bytes, aborted, offsets } = await recordSet(next, i, i % 5 === 0);
      // The record set as a fetch response holds it: its size first, and the next partition after it.
      const framed = Buffer.concat([Buffer.alloc(4), bytes, Buffer.from([7, 7, 7])]);
      framed.writeInt32BE(bytes.length, 0);
      const a = new Decoder(framed);
      const b = new Decoder(framed);
      const theirs = await kafkajsDecodeMessages(a);
      const mine = await decodeMessages(b as never);
      expect(b.offset, `fetch ${i}: offset after`).toBe(a.offset);
      expect(plainRecords(mine), `fetch ${i}`).toEqual(theirs);
      if (mine instanceof FetchedColumns) columns++;
      const fetchedOffset = String(offsets[Math.floor(next() * offsets.length)] ?? 0);
      const data = { partition: 0, highWatermark: '99999999999', abortedTransactions: aborted };
      const t = new Theirs('t', fetchedOffset, { ...data, messages: theirs });
      const m = new Batch('t', fetchedOffset, { ...data, messages: mine });
      const kept = (batch: { messages: unknown }): unknown[] => plainRecords(batch.messages);
      expect(kept(m), `fetch ${i}: kept`).toEqual(kept(t));
      if ((t as unknown as { messagesWithinOffset: unknown[] }).messagesWithinOffset.length > t.messages.length) dropped++;
      for (const method of ['isEmpty', 'isEmptyIncludingFiltered', 'isEmptyDueToFiltering', 'isEmptyControlRecord', 'isEmptyDueToLogCompactedMessages', 'firstOffset', 'lastOffset', 'offsetLag', 'offsetLagLow']) {
        expect(m[method]?.(), `fetch ${i}: ${method}`).toEqual(t[method]?.());
      }
      // What kafkajs's runner reads of a batch: its size and its last message's offset.
      expect(m.messages.length).toBe(t.messages.length);
      expect(m.messages[m.messages.length - 1]?.offset).toBe(t.messages[t.messages.length - 1]?.offset);
      // kafkajs's own Batch given the columns (an instance of kafkajs loaded apart, sharing the module cache) works on them as on records.
      const unprepared = new Theirs('t', fetchedOffset, { ...data, messages: mine });
      expect(kept(unprepared), `fetch ${i}: kafkajs's Batch on columns`).toEqual(kept(t));
      expect(unprepared.lastOffset?.()).toBe(t.lastOffset?.());
    }
    // Most record sets are read as columns; those with a gzipped batch, by kafkajs.
    expect(columns).toBeGreaterThan(200);
    expect(columns).toBeLessThan(300);
    // Aborted transactions and markers were dropped in many.
    expect(dropped).toBeGreaterThan(50);
  });

  it('copies a chunk of them for the processing thread as the same records as a copy of plain records', async () => {
    const next = rng(41);
    for (let i = 0; i < 50; i++) {
      const { bytes } = await recordSet(next, i, false);
      const framed = Buffer.concat([Buffer.alloc(4), bytes]);
      framed.writeInt32BE(bytes.length, 0);
      const cols = await decodeMessages(new Decoder(framed) as never);
      if (!(cols instanceof FetchedColumns)) throw new Error('not read as columns');
      const plain = cols.records().map((r) => materialize(r) as ConsumedRecord);
      const rows = (rs: readonly ConsumedRecord[]) => rs.map((r) => [r.offset, r.timestamp, r.key?.toString('hex') ?? null, r.value?.toString('hex') ?? null]);
      const from = Math.floor(next() * cols.length);
      const to = from + Math.floor(next() * (cols.length - from + 1));
      const chunk = packChunk(cols.slice(from, to), 3);
      expect(chunk.offsets).toBeInstanceOf(Float64Array);
      // The copy holds the records' stretch of the fetch, not the whole of it.
      expect(chunk.bytes.byteLength).toBeLessThanOrEqual(bytes.length);
      expect(chunkRows(unpackChunk(chunk))).toEqual(rows(plain.slice(from, to)));
      expect(chunkRows(unpackChunk(packChunk(columnsOf(plain.slice(from, to)), 3)))).toEqual(rows(plain.slice(from, to)));
      // A record at a time, with headers, for the DLQ.
      if (to > from) expect(materialize(cols.slice(from, to).record(0))).toEqual(plain[from]);
    }
  });
});
