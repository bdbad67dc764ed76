/**
 * Kafka's RecordBatch v2 records, encoded ahead of a send: a processing thread writes each sink
 * partition's records into one buffer with their CRC-32C, and the Kafka thread only puts the batch
 * header in front of them (kafkajs-fastpath.ts). Pure format code: no client, no I/O.
 *
 * RecordBatch v2 (all integers big-endian):
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2) | crc uint32 |
 *   attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records…
 *
 * The CRC-32C covers everything from `attributes` to the end. The header's part of it depends on
 * the producer (id, epoch, sequence), which only the sending thread knows, so the records' CRC is
 * taken apart and combined with the header's at send time (`crc32cCombine`).
 *
 * A record: length varint | attributes int8 (0) | timestampDelta varlong | offsetDelta varint |
 * keyLength varint (-1: null) | key | valueLength varint | value | headerCount varint |
 * per header: keyLength varint | key (UTF-8) | valueLength varint | value. Varints are zigzag.
 */

import { createRequire } from 'node:module';

/** Records already encoded as one RecordBatch's records, for one partition of one topic. */
export interface EncodedBatch {
  partition: number;
  /** Records in `records`; their offset deltas run 0 … count − 1. */
  count: number;
  /** The batch's base timestamp (the first record's; the records' deltas are from it) and its largest, epoch ms. */
  firstTimestamp: number;
  maxTimestamp: number;
  /** The encoded records, back to back. */
  records: Buffer;
  /** CRC-32C of `records` alone (unsigned). */
  crc: number;
  /** Key and value bytes of the records (what the metrics count as written). */
  bytes: number;
}

// ---------------------------------------------------------------------------------------------
// CRC-32C (Castagnoli), slice-by-16: sixteen tables of 256 entries, reading aligned 32-bit words
// (about twice as fast as slice-by-8 over bytes; the replay takes a CRC of every byte it writes).

const POLY = 0x82f63b78;

/** Table t at [t * 256, t * 256 + 256): t0 the byte-wise table, t(k) one byte further on than t(k-1). */
const CRC_TABLE: Int32Array = (() => {
  const table = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c;
  }
  for (let t = 1; t < 16; t++) {
    for (let n = 0; n < 256; n++) {
      const p = table[(t - 1) * 256 + n] as number;
      table[t * 256 + n] = (p >>> 8) ^ (table[p & 0xff] as number);
    }
  }
  return table;
})();

/** Words are read in the machine's byte order; the word loop is written for little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * CRC-32C of `buf`, as an unsigned 32-bit number (what kafkajs's crc32C module returns): with the
 * CPU's CRC-32C instruction where @node-rs/crc32 has a build for the platform (some 3–5× faster on
 * a record batch; in JavaScript it was about an eighth of a processing thread's instructions),
 * else `crc32cJs`. Below NATIVE_FROM bytes the call into native code costs more than it saves.
 */
export function crc32c(buf: Uint8Array): number {
  return nativeCrc32c !== null && buf.length >= NATIVE_FROM ? nativeCrc32c(buf) >>> 0 : crc32cJs(buf);
}

const NATIVE_FROM = 512;

/** @node-rs/crc32's crc32c, or null where it has no build for this platform (or REPROCESS_NATIVE_CRC=0). */
export const nativeCrc32c: ((buf: Uint8Array) => number) | null = (() => {
  if (process.env.REPROCESS_NATIVE_CRC === '0') return null;
  try {
    return (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c: (buf: Uint8Array) => number }).crc32c;
  } catch {
    return null;
  }
})();

/**
 * CRC-32C in JavaScript. The bytes up to a 4-byte boundary, the 16-byte blocks and the bytes after
 * them are three functions, each ending with its loop: written as one, its optimized code
 * (compiled during the first long loop) had never seen the code after the loop run and fell back
 * to the interpreter there on every call.
 */
export function crc32cJs(buf: Uint8Array): number {
  const n = buf.length;
  const head = Math.min(n, (4 - (buf.byteOffset & 3)) & 3);
  let crc = crcBytes(-1, buf, 0, head);
  const blocks = LITTLE_ENDIAN ? (n - head) >>> 4 : 0;
  if (blocks > 0) crc = crcBlocks(crc, new Int32Array(buf.buffer, buf.byteOffset + head, blocks * 4));
  crc = crcBytes(crc, buf, head + blocks * 16, n);
  return (crc ^ -1) >>> 0;
}

/** The CRC (not yet inverted) carried over `buf[from, to)`, a byte at a time. */
function crcBytes(crc: number, buf: Uint8Array, from: number, to: number): number {
  const T = CRC_TABLE;
  for (let i = from; i < to; i++) crc = (T[(crc ^ (buf[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return crc;
}

/** The CRC carried over whole 16-byte blocks, read as little-endian 32-bit words (slice-by-16). */
function crcBlocks(crc: number, w: Int32Array): number {
  const T = CRC_TABLE;
  for (let j = 0; j < w.length; j += 4) {
    const a = crc ^ (w[j] as number);
    const b = w[j + 1] as number;
    const c = w[j + 2] as number;
    const d = w[j + 3] as number;
    crc =
      (T[3840 + (a & 0xff)] as number) ^ (T[3584 + ((a >>> 8) & 0xff)] as number) ^ (T[3328 + ((a >>> 16) & 0xff)] as number) ^ (T[3072 + (a >>> 24)] as number) ^
      (T[2816 + (b & 0xff)] as number) ^ (T[2560 + ((b >>> 8) & 0xff)] as number) ^ (T[2304 + ((b >>> 16) & 0xff)] as number) ^ (T[2048 + (b >>> 24)] as number) ^
      (T[1792 + (c & 0xff)] as number) ^ (T[1536 + ((c >>> 8) & 0xff)] as number) ^ (T[1280 + ((c >>> 16) & 0xff)] as number) ^ (T[1024 + (c >>> 24)] as number) ^
      (T[768 + (d & 0xff)] as number) ^ (T[512 + ((d >>> 8) & 0xff)] as number) ^ (T[256 + ((d >>> 16) & 0xff)] as number) ^ (T[d >>> 24] as number);
  }
  return crc;
}

/** a × b modulo the CRC polynomial (bit-reflected, as zlib's multmodp). */
function multModP(a: number, b: number): number {
  let m = 1 << 31;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p;
}

/** x^(2^k) modulo the polynomial, k = 0 … 31. */
const X2N: Int32Array = (() => {
  const t = new Int32Array(32);
  let p = 1 << 30; // x^1
  t[0] = p;
  for (let k = 1; k < 32; k++) t[k] = p = multModP(p, p);
  return t;
})();

/** x^(n·2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 1 << 31; // x^0
  while (n) {
    if (n & 1) p = multModP(X2N[k & 31] as number, p);
    n >>>= 1;
    k++;
  }
  return p;
}

/** CRC-32C of A followed by B, from CRC-32C(A), CRC-32C(B) and B's length (zlib's crc32_combine). */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return ((multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Varints.

/** Bytes of an unsigned varint holding `v` (0 ≤ v < 2^53). */
export function uvarintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let bytes = 5;
  for (v = Math.floor(v / 0x800000000); v > 0; v = Math.floor(v / 128)) bytes++;
  return bytes;
}

export const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);

export function writeUVarint(buf: Uint8Array, offset: number, v: number): number {
  if (v < 0x80) {
    buf[offset] = v;
    return offset + 1;
  }
  if (v < 0x4000) {
    buf[offset] = (v & 0x7f) | 0x80;
    buf[offset + 1] = v >>> 7;
    return offset + 2;
  }
  while (v >= 128) {
    buf[offset++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[offset++] = v;
  return offset;
}

// ---------------------------------------------------------------------------------------------
// Building batches.

/** The part of a RecordBatch v2 header from `attributes` on: what its CRC covers besides the records. */
export const BATCH_HEADER = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;
/** Where the CRC-covered part of the header starts. */
export const BATCH_CRC_FROM = 21;

/** Timestamp deltas are written as exact doubles: within ±2^51 ms (some 71,000 years). */
const MAX_DELTA = 2 ** 51;

/**
 * Buffers a partition's records are built in, kept for the next builder once one has copied them
 * out (finish): a chunk's batches are built in buffers of the sizes the chunk before grew, not in
 * memory fresh from the system (its pages faulted in and zeroed: a tenth of a replay's Kafka and
 * processing time). At most SPARE_BUFFERS, of at most SPARE_BYTES each.
 */
const spare: Buffer[] = [];
const SPARE_BUFFERS = 64;
const SPARE_BYTES = 8 * 1024 * 1024;

function spareBuffer(size: number): Buffer {
  for (let i = spare.length - 1; i >= 0; i--) {
    const b = spare[i] as Buffer;
    if (b.length >= size) {
      spare[i] = spare[spare.length - 1] as Buffer;
      spare.pop();
      return b;
    }
  }
  return Buffer.allocUnsafeSlow(size);
}

function keepSpare(b: Buffer): void {
  if (b.length <= SPARE_BYTES && spare.length < SPARE_BUFFERS) spare.push(b);
}

class PartitionRecords {
  buf: Buffer;
  used = 0;
  count = 0;
  firstTimestamp = 0;
  maxTimestamp = 0;
  bytes = 0;
  constructor(readonly partition: number, size: number) {
    this.buf = spareBuffer(size);
  }
  reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const next = spareBuffer(Math.max(this.buf.length * 2, this.used + n));
    this.buf.copy(next, 0, 0, this.used);
    keepSpare(this.buf);
    this.buf = next;
  }
}

/**
 * Collects output records per partition and encodes each partition's into RecordBatch records,
 * in the order added. A partition's batch is closed and another begun when the next record would
 * take it past `maxBatchBytes` (a record larger than that still goes, in a batch of its own): the
 * broker refuses a batch above its `message.max.bytes`.
 */
export class EncodedBatchBuilder {
  private readonly open = new Map<number, PartitionRecords>();
  private readonly closed: PartitionRecords[] = [];

  constructor(private readonly maxBatchBytes: number, private readonly initialBytes = 16 * 1024) {}

  /**
   * Adds one record with one header: `headerKey` (ASCII) and the value "<partition>:<offset>"
   * (the source header: where the record came from), written as digits straight from the numbers
   * (an offset the client gave as text, beyond 2^53, as that text). The key is bytes, an ASCII
   * string, or null; the value is the first `valueLength` bytes of `value` (an encoder's scratch
   * buffer, say). `timestamp` is epoch ms.
   */
  add(partition: number, key: Buffer | string | null, value: Buffer, valueLength: number, timestamp: number, headerKey: string, sourcePartition: number, sourceOffset: number | string): void {
    if (!(Number.isSafeInteger(sourcePartition) && sourcePartition >= 0)) throw new RangeError(`source partition ${sourcePartition} is not a partition number`);
    const offsetText = typeof sourceOffset === 'string';
    if (offsetText ? !/^\d+$/.test(sourceOffset) : !(Number.isSafeInteger(sourceOffset) && sourceOffset >= 0)) throw new RangeError(`source offset ${sourceOffset} is not an offset`);
    const partitionDigits = digits(sourcePartition);
    const offsetDigits = offsetText ? sourceOffset.length : digits(sourceOffset);
    const headerValueLength = partitionDigits + 1 + offsetDigits;
    let p = this.open.get(partition);
    const keyLength = key === null ? -1 : key.length;
    const kv = Math.max(keyLength, 0) + valueLength;
    if (p !== undefined && p.count > 0 && p.used + kv + 32 + headerKey.length + headerValueLength > this.maxBatchBytes) {
      this.closed.push(p);
      p = undefined;
    }
    if (p === undefined) {
      p = new PartitionRecords(partition, this.initialBytes);
      p.firstTimestamp = p.maxTimestamp = timestamp;
      this.open.set(partition, p);
    }
    const delta = timestamp - p.firstTimestamp;
    if (!Number.isSafeInteger(delta) || Math.abs(delta) > MAX_DELTA) throw new RangeError(`record timestamp ${timestamp} is too far from its batch's ${p.firstTimestamp}`);
    const td = zigzag(delta);
    const od = zigzag(p.count);
    const kz = zigzag(keyLength);
    const vz = zigzag(valueLength);
    const hk = zigzag(headerKey.length);
    const hv = zigzag(headerValueLength);
    const body = 1 + uvarintSize(td) + uvarintSize(od) + uvarintSize(kz) + Math.max(keyLength, 0) + uvarintSize(vz) + valueLength
      + 1 + uvarintSize(hk) + headerKey.length + uvarintSize(hv) + headerValueLength;
    const bz = zigzag(body);
    p.reserve(uvarintSize(bz) + body);
    const buf = p.buf;
    let o = writeUVarint(buf, p.used, bz);
    buf[o++] = 0; // attributes
    o = writeUVarint(buf, o, td);
    o = writeUVarint(buf, o, od);
    o = writeUVarint(buf, o, kz);
    if (typeof key === 'string') o = writeAscii(buf, o, key);
    else if (key !== null) o = copyInto(buf, o, key, key.length);
    o = writeUVarint(buf, o, vz);
    o = copyInto(buf, o, value, valueLength);
    buf[o++] = 2; // one header, zigzag
    o = writeUVarint(buf, o, hk);
    o = writeAscii(buf, o, headerKey);
    o = writeUVarint(buf, o, hv);
    o = writeDigits(buf, o, sourcePartition, partitionDigits);
    buf[o++] = 0x3a; // ':'
    o = offsetText ? writeAscii(buf, o, sourceOffset) : writeDigits(buf, o, sourceOffset, offsetDigits);
    p.used = o;
    p.count++;
    p.bytes += kv;
    if (timestamp > p.maxTimestamp) p.maxTimestamp = timestamp;
  }

  /**
   * The batches, in the order they were begun per partition, their records in one buffer of their
   * own (`transfer` then names it for postMessage). The builder is empty afterwards.
   */
  finish(): { batches: EncodedBatch[]; transfer: ArrayBuffer } {
    const all = [...this.closed, ...this.open.values()];
    this.closed.length = 0;
    this.open.clear();
    let total = 0;
    for (const p of all) total += p.used;
    // Its own memory (to transfer), not zeroed: every byte is written below.
    const out = Buffer.allocUnsafeSlow(total);
    const transfer = out.buffer as ArrayBuffer;
    const batches: EncodedBatch[] = [];
    let at = 0;
    for (const p of all) {
      p.buf.copy(out, at, 0, p.used);
      const records = out.subarray(at, at + p.used);
      batches.push({ partition: p.partition, count: p.count, firstTimestamp: p.firstTimestamp, maxTimestamp: p.maxTimestamp, records, crc: crc32c(records), bytes: p.bytes });
      at += p.used;
      keepSpare(p.buf);
    }
    return { batches, transfer };
  }
}

/** Below this many bytes a loop beats a call into native code. */
const SMALL = 48;

function copyInto(buf: Buffer, o: number, src: Buffer, n: number): number {
  if (n < SMALL) for (let i = 0; i < n; i++) buf[o + i] = src[i] as number;
  else src.copy(buf, o, 0, n);
  return o + n;
}

/** Decimal digits of a whole number 0 ≤ n < 2^53. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes the `count` decimal digits of `n` (0 ≤ n < 2^53) at `o`; returns where they end. */
function writeDigits(buf: Buffer, o: number, n: number, count: number): number {
  const end = o + count;
  for (let at = end - 1; at >= o; at--) {
    const q = Math.floor(n / 10);
    buf[at] = 0x30 + (n - q * 10);
    n = q;
  }
  return end;
}

type Latin1Writable = Buffer & { latin1Write?: (s: string, offset: number, length: number) => number };

/** Writes an ASCII string's characters as bytes at `o` (one native call: a loop over charCodeAt took some 25 instructions a character). */
function writeAscii(buf: Latin1Writable, o: number, s: string): number {
  return o + (buf.latin1Write ? buf.latin1Write(s, o, s.length) : buf.write(s, o, 'latin1'));
}

export interface BatchHeader {
  firstOffset: bigint;
  /** The whole batch's bytes, its offset and length prefix included. */
  size: number;
  partitionLeaderEpoch: number;
  transactional: boolean;
  lastOffsetDelta: number;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  count: number;
}

/** A RecordBatch v2 header at `at` (BATCH_HEADER bytes), its CRC left to the caller. */
export function writeBatchHeader(buf: Buffer, at: number, h: BatchHeader): void {
  buf.writeBigInt64BE(h.firstOffset, at);
  buf.writeInt32BE(h.size - 12, at + 8); // the batch's length, after offset and length
  buf.writeInt32BE(h.partitionLeaderEpoch, at + 12);
  buf.writeInt8(2, at + 16); // magic
  buf.writeInt16BE(h.transactional ? 16 : 0, at + 21);
  buf.writeInt32BE(h.lastOffsetDelta, at + 23);
  buf.writeBigInt64BE(h.firstTimestamp, at + 27);
  buf.writeBigInt64BE(h.maxTimestamp, at + 35);
  buf.writeBigInt64BE(h.producerId, at + 43);
  buf.writeInt16BE(h.producerEpoch, at + 51);
  buf.writeInt32BE(h.firstSequence, at + 53);
  buf.writeInt32BE(h.count, at + 57);
}

/**
 * Writes a RecordBatch v2 header for `batch` at `at` of `buf` (BATCH_HEADER bytes), its CRC
 * included, assuming `batch.records` follow it. The base offset and the partition leader epoch
 * are 0, as kafkajs writes them (the broker assigns both).
 */
export function writeEncodedBatchHeader(buf: Buffer, at: number, batch: EncodedBatch, producer: { producerId: bigint; producerEpoch: number; firstSequence: number; transactional: boolean }): void {
  writeBatchHeader(buf, at, {
    firstOffset: 0n, size: BATCH_HEADER + batch.records.length, partitionLeaderEpoch: 0, transactional: producer.transactional, lastOffsetDelta: batch.count - 1,
    firstTimestamp: BigInt(batch.firstTimestamp), maxTimestamp: BigInt(batch.maxTimestamp), producerId: producer.producerId, producerEpoch: producer.producerEpoch,
    firstSequence: producer.firstSequence, count: batch.count,
  });
  const headerCrc = crc32c(buf.subarray(at + BATCH_CRC_FROM, at + BATCH_HEADER));
  buf.writeUInt32BE(crc32cCombine(headerCrc, batch.crc, batch.records.length), at + 17);
}

// ---------------------------------------------------------------------------------------------
// Reading them back (a client without the fast path sends the records one by one; tests).

export interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  /** Epoch ms, as a decimal string. */
  timestamp: string;
  headers: Record<string, Buffer>;
}

/** The records of an encoded batch, in order. Throws on bytes that are not what `EncodedBatchBuilder` writes. */
export function decodeEncodedBatch(batch: EncodedBatch): DecodedRecord[] {
  const buf = batch.records;
  let o = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (o >= buf.length) throw new RangeError('encoded batch ends inside a varint');
      const b = buf[o++] as number;
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) break;
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const bytes = (): Buffer | null => {
    const n = varint();
    if (n < 0) return null;
    if (o + n > buf.length) throw new RangeError('encoded batch ends inside a record');
    const b = buf.subarray(o, o + n);
    o += n;
    return b;
  };
  const out: DecodedRecord[] = [];
  for (let i = 0; i < batch.count; i++) {
    const length = varint();
    const end = o + length;
    o++; // attributes
    const timestamp = batch.firstTimestamp + varint();
    const offsetDelta = varint();
    if (offsetDelta !== i) throw new RangeError(`encoded batch record ${i} has offset delta ${offsetDelta}`);
    const key = bytes();
    const value = bytes();
    const headers: Record<string, Buffer> = {};
    const n = varint();
    for (let h = 0; h < n; h++) {
      const k = (bytes() ?? Buffer.alloc(0)).toString('utf8');
      headers[k] = bytes() ?? Buffer.alloc(0);
    }
    if (o !== end) throw new RangeError(`encoded batch record ${i} is ${length} bytes long but holds ${length + o - end}`);
    out.push({ key, value, timestamp: String(timestamp), headers });
  }
  if (o !== buf.length) throw new RangeError(`encoded batch holds ${buf.length - o} bytes after its ${batch.count} records`);
  return out;
}
