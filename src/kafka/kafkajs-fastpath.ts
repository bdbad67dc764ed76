/**
 * Faster replacements for some of kafkajs 2.2.4's internal modules, installed into
 * Node's CommonJS module cache before kafkajs loads, so kafkajs's own code calls them.
 *
 * Measured on the replay's path (BENCHMARKS.md, "Where the replay's CPU goes"), kafkajs spent
 * most of its per-record CPU on:
 * - `protocol/recordBatch/record/v0`: a zero-filled 512-byte buffer per record and another per
 *   header, and a fresh `Buffer.from([...])` per varint. Here a record is sized first and written
 *   once into a buffer of exactly its size.
 * - `protocol/recordBatch/crc32C`: a table-per-byte CRC-32C. Here a slice-by-8 table.
 * - `producer/groupMessagesPerPartition`: copies a partition's array once per message, so a send
 *   costs the square of its records per partition. Here one pass.
 * - `protocol/requests/produce/v3/request` (which versions 4 to 7 extend), for uncompressed sends:
 *   kafkajs copied every message into a new object, encoded each record into a buffer of its own,
 *   copied those into the batch and the batch into the request, and sorted each batch's
 *   timestamps. Here the whole request is sized first and written into one buffer. Messages it
 *   does not handle exactly like kafkajs send the request through kafkajs's own encoder.
 * - `protocol/recordBatch/record/v0/decoder` (consuming): each record's offset and timestamp went
 *   through several 64-bit Long objects (BigInt-backed) and a decimal parse of the batch's base.
 *   Here they are plain numbers while they fit in 2^53 (offsets and millisecond timestamps do),
 *   and kafkajs's own decoder reads anything that does not.
 * - `protocol/recordBatch/v0` (uncompressed batches): the batch was built in encoders that grow
 *   by doubling into zero-filled buffers and copied twice more. Here it is sized first and written
 *   once.
 * - `protocol/requests/fetch/v4/decodeMessages` and `consumer/batch` (consuming): an object per
 *   record, kept alive until its batch was processed, was most of the replay's Kafka-thread
 *   garbage. Here a partition's record set of uncompressed batches is read into columns (typed
 *   arrays over the fetch response, kafkajs-records.ts FetchedColumns) and stays columns; a
 *   record object is made only for the consumer that asks for one.
 * - `consumer/fetcher`: fetched again only once a round's batches were processed. Here a consumer
 *   with `fetchAhead` gets its next round fetched while it processes this one (kafkajs-fetcher.ts).
 *
 * Each replacement writes exactly the bytes kafkajs's original writes (test/unit/kafkajs-fastpath
 * compares them on random records), and falls back to the original for any input it does not
 * handle itself. kafkajs is pinned to the version these were written against; with any other
 * version nothing is replaced and kafkajs runs as shipped.
 */
import { createRequire } from 'node:module';
import { createFetcher } from './kafkajs-fetcher.js';
import { FetchedColumns, LazyRecord, makeDecodeMessages, makeRecordBatchDecoder } from './kafkajs-records.js';
import { BATCH_CRC_FROM, BATCH_HEADER, crc32c, uvarintSize, writeBatchHeader, writeEncodedBatchHeader, writeUVarint, zigzag, type EncodedBatch } from './record-batch.js';

export { crc32c } from './record-batch.js';

const require = createRequire(import.meta.url);

/** The kafkajs version whose internals the replacements match (package.json pins it exactly). */
export const FASTPATH_KAFKAJS_VERSION = '2.2.4';

const MODULES = {
  record: 'kafkajs/src/protocol/recordBatch/record/v0/index.js',
  recordBatch: 'kafkajs/src/protocol/recordBatch/v0/index.js',
  produceV3: 'kafkajs/src/protocol/requests/produce/v3/request.js',
  recordDecoder: 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js',
  timestampTypes: 'kafkajs/src/protocol/timestampTypes.js',
  crc32c: 'kafkajs/src/protocol/recordBatch/crc32C/index.js',
  group: 'kafkajs/src/producer/groupMessagesPerPartition.js',
  encoder: 'kafkajs/src/protocol/encoder.js',
  fetcher: 'kafkajs/src/consumer/fetcher.js',
  request: 'kafkajs/src/protocol/request.js',
  batchDecoder: 'kafkajs/src/protocol/recordBatch/v0/decoder.js',
  decodeMessages: 'kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js',
  compression: 'kafkajs/src/protocol/message/compression/index.js',
  errors: 'kafkajs/src/errors.js',
  consumerBatch: 'kafkajs/src/consumer/batch.js',
  long: 'kafkajs/src/utils/long.js',
} as const;

// ---------------------------------------------------------------------------------------------
// Record v0 (the records inside a RecordBatch v2).

type Bytes = Buffer | string | null | undefined;
interface RecordArgs {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
}

function bytesLength(v: Bytes): number {
  if (v === null || v === undefined) return -1;
  return Buffer.isBuffer(v) ? v.length : Buffer.byteLength(v, 'utf8');
}

/** Below this many bytes a loop beats a call into native code (header keys and values, ids). */
const SMALL = 48;

function writeBytes(buf: Buffer, offset: number, v: Bytes, length: number): number {
  offset = writeUVarint(buf, offset, zigzag(length));
  if (length <= 0 || v === null || v === undefined) return offset;
  if (Buffer.isBuffer(v)) {
    if (length < SMALL) for (let i = 0; i < length; i++) buf[offset + i] = v[i] as number;
    else v.copy(buf, offset);
    return offset + length;
  }
  // A string whose UTF-8 length is its length is ASCII: one byte per character.
  if (length < SMALL && length === v.length) {
    for (let i = 0; i < length; i++) buf[offset + i] = v.charCodeAt(i);
    return offset + length;
  }
  return offset + buf.write(v, offset, length, 'utf8');
}

/** Only what this encoder handles exactly like kafkajs; anything else goes to kafkajs's own code. */
function handled(v: unknown): v is Bytes {
  return v === null || v === undefined || typeof v === 'string' || Buffer.isBuffer(v);
}

/** An encoder for a record, or null when the record should be left to kafkajs's own encoder. */
export function encodeRecordV0(args: RecordArgs): Buffer | null {
  const offsetDelta = args.offsetDelta ?? 0;
  const timestampDelta = args.timestampDelta ?? 0;
  // Varints of int32 range for offsets and lengths, varlong within the exact range of a double.
  if (!Number.isInteger(offsetDelta) || offsetDelta < -0x80000000 || offsetDelta > 0x7fffffff) return null;
  if (!Number.isSafeInteger(timestampDelta) || Math.abs(timestampDelta) > 2 ** 51) return null;
  // The produce request encoder's record writer, on a record of its own.
  const m: ProduceMessage = { key: args.key, value: args.value, headers: args.headers ?? {} };
  const body = recordBodySize(m, offsetDelta, timestampDelta);
  if (body < 0) return null;
  const buf = Buffer.allocUnsafe(uvarintSize(zigzag(body)) + body);
  const o = writeRecord(buf, 0, m, offsetDelta, timestampDelta, body);
  if (o !== buf.length) throw new Error(`record encoder wrote ${o} of ${buf.length} bytes`);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// RecordBatch v2 (uncompressed).

interface EncoderLike { buf: Buffer; offset: number }
interface BatchArgs {
  compression?: number;
  firstOffset?: unknown;
  firstTimestamp?: unknown;
  maxTimestamp?: unknown;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: unknown;
  producerEpoch?: number;
  firstSequence?: number;
  records?: unknown[];
}

/** An int64 as kafkajs's Long.fromValue reads it, or null for what this encoder leaves to kafkajs. */
function int64(v: unknown): bigint | null {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : null;
  if (typeof v === 'string') return /^-?\d{1,18}$/.test(v) ? BigInt(v) : null;
  // kafkajs's Long holds a BigInt.
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'bigint') return BigInt.asIntN(64, (v as { value: bigint }).value);
  return null;
}

/** Writes the CRC of the batch at [start, end): CRC-32C over everything from the attributes on. */
function sealBatch(buf: Buffer, start: number, end: number): void {
  buf.writeUInt32BE(crc32c(buf.subarray(start + BATCH_CRC_FROM, end)), start + 17);
}

const isEncoder = (r: unknown): r is EncoderLike => typeof r === 'object' && r !== null && Buffer.isBuffer((r as EncoderLike).buf) && typeof (r as EncoderLike).offset === 'number';

/** The bytes of an uncompressed RecordBatch (with its offset and length prefix), or null to leave it to kafkajs. */
export function encodeRecordBatchV2(args: BatchArgs): Buffer | null {
  const records = args.records ?? [];
  if ((args.compression ?? 0) !== 0) return null;
  const now = Date.now();
  const firstOffset = args.firstOffset === undefined ? 0n : int64(args.firstOffset);
  const firstTimestamp = int64(args.firstTimestamp ?? now);
  const maxTimestamp = int64(args.maxTimestamp ?? now);
  const producerId = args.producerId === undefined ? -1n : int64(args.producerId);
  if (firstOffset === null || firstTimestamp === null || maxTimestamp === null || producerId === null) return null;
  let body = 0;
  for (const r of records) {
    if (!isEncoder(r)) return null;
    body += r.offset;
  }
  const buf = Buffer.allocUnsafe(BATCH_HEADER + body);
  writeBatchHeader(buf, 0, {
    firstOffset, size: buf.length, partitionLeaderEpoch: args.partitionLeaderEpoch ?? 0, transactional: args.transactional ?? false,
    lastOffsetDelta: args.lastOffsetDelta ?? 0, firstTimestamp, maxTimestamp, producerId, producerEpoch: args.producerEpoch ?? 0,
    firstSequence: args.firstSequence ?? 0, count: records.length,
  });
  let o = BATCH_HEADER;
  for (const r of records as EncoderLike[]) {
    r.buf.copy(buf, o, 0, r.offset);
    o += r.offset;
  }
  sealBatch(buf, 0, o);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Produce request v3 (and 4 to 7), uncompressed: one buffer for the whole request.

interface ProduceMessage { key?: Bytes; value?: Bytes; headers?: Record<string, Bytes | Bytes[]>; timestamp?: unknown }
interface ProducePartition { partition: number; firstSequence?: number; messages: PartitionMessages }
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}

/** Bytes of a record's body (after its length varint), or -1 for what is left to kafkajs. */
function recordBodySize(m: ProduceMessage, offsetDelta: number, timestampDelta: number): number {
  const { key, value } = m;
  if (!handled(key) || !handled(value)) return -1;
  const keyLength = bytesLength(key);
  const valueLength = bytesLength(value);
  let size =
    1 +
    uvarintSize(zigzag(timestampDelta)) +
    uvarintSize(zigzag(offsetDelta)) +
    uvarintSize(zigzag(keyLength)) + Math.max(keyLength, 0) +
    uvarintSize(zigzag(valueLength)) + Math.max(valueLength, 0);
  let count = 0;
  const headers = m.headers ?? {};
  for (const k of Object.keys(headers)) {
    const hv = headers[k];
    const kl = Buffer.byteLength(k, 'utf8');
    const one = (x: unknown): boolean => {
      if (!handled(x) || x === undefined) return false;
      const vl = bytesLength(x);
      size += uvarintSize(zigzag(kl)) + kl + uvarintSize(zigzag(vl)) + Math.max(vl, 0);
      count++;
      return true;
    };
    if (Array.isArray(hv)) {
      for (const x of hv) if (!one(x)) return -1;
    } else if (hv === null || !one(hv)) return -1;
  }
  return size + uvarintSize(zigzag(count));
}

function writeRecord(buf: Buffer, o: number, m: ProduceMessage, offsetDelta: number, timestampDelta: number, body: number): number {
  o = writeUVarint(buf, o, zigzag(body));
  buf[o++] = 0; // attributes
  o = writeUVarint(buf, o, zigzag(timestampDelta));
  o = writeUVarint(buf, o, zigzag(offsetDelta));
  o = writeBytes(buf, o, m.key, bytesLength(m.key));
  o = writeBytes(buf, o, m.value, bytesLength(m.value));
  const headers = m.headers ?? {};
  let count = 0;
  for (const k of Object.keys(headers)) {
    const hv = headers[k];
    count += Array.isArray(hv) ? hv.length : 1;
  }
  o = writeUVarint(buf, o, zigzag(count));
  for (const k of Object.keys(headers)) {
    const hv = headers[k];
    const kl = Buffer.byteLength(k, 'utf8');
    if (!Array.isArray(hv)) {
      o = writeBytes(buf, o, k, kl);
      o = writeBytes(buf, o, hv, bytesLength(hv));
      continue;
    }
    for (const x of hv) {
      o = writeBytes(buf, o, k, kl);
      o = writeBytes(buf, o, x, bytesLength(x));
    }
  }
  return o;
}

const stringBytes = (s: string | null | undefined): number => (s === null || s === undefined ? 2 : 2 + Buffer.byteLength(s, 'utf8'));
function writeString(buf: Buffer, o: number, s: string | null | undefined): number {
  if (s === null || s === undefined) {
    buf.writeInt16BE(-1, o);
    return o + 2;
  }
  const n = buf.write(s, o + 2, 'utf8');
  buf.writeInt16BE(n, o);
  return o + 2 + n;
}

/**
 * A message standing for a whole encoded batch (record-batch.ts): the records of one partition of
 * a send, encoded on another thread. The grouping below turns it into that partition's messages:
 * an array as long as the batch's records (kafkajs advances the idempotent sequence by the array's
 * length) that holds no message objects, only the batch under this key, which the produce encoder
 * writes behind a header of its own.
 */
export const ENCODED_BATCH: unique symbol = Symbol.for('reprocess.kafkajs.encodedBatch');
export interface EncodedBatchMessage { partition: number; value: null; [ENCODED_BATCH]: EncodedBatch }

/** The message kafkajs's producer is given for an encoded batch. */
export const encodedBatchMessage = (batch: EncodedBatch): EncodedBatchMessage => ({ partition: batch.partition, value: null, [ENCODED_BATCH]: batch });

type PartitionMessages = ProduceMessage[] & { [ENCODED_BATCH]?: EncodedBatch };

/** A partition's messages in a produce request when they are an encoded batch (see above). */
export function encodedPartitionMessages(batch: EncodedBatch): PartitionMessages {
  const group: PartitionMessages = new Array<ProduceMessage>(batch.count);
  group[ENCODED_BATCH] = batch;
  return group;
}

interface PlannedBatch {
  partition: ProducePartition;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  /** Per message: its body size and timestamp delta. */
  bodies: Int32Array;
  deltas: Float64Array;
  /** The RecordBatch's bytes, offset and length prefix included. */
  size: number;
}

const EMPTY_BODIES = new Int32Array(0);
const EMPTY_DELTAS = new Float64Array(0);

/** The body of a produce request (v3 layout), exactly as kafkajs writes it, or null to let kafkajs write it. */
export function encodeProduceRequestV3(args: ProduceArgs, now = Date.now(), room = 0): Buffer | null {
  const encoded = args.topicData.some((t) => t.partitions.some((p) => p.messages[ENCODED_BATCH] !== undefined));
  const producerId = args.producerId === undefined ? -1n : int64(args.producerId);
  if ((args.compression ?? 0) !== 0 || producerId === null) {
    // kafkajs's own encoder cannot write an encoded batch; the adapter never sends one like this.
    if (encoded) throw new Error('an encoded record batch can only be sent uncompressed by the fast path');
    return null;
  }
  let total = stringBytes(args.transactionalId) + 2 + 4 + 4;
  const plans: PlannedBatch[][] = [];
  for (const t of args.topicData) {
    total += stringBytes(t.topic) + 4;
    const list: PlannedBatch[] = [];
    for (const p of t.partitions) {
      const messages = p.messages;
      const batch = messages[ENCODED_BATCH];
      if (batch !== undefined) {
        const size = BATCH_HEADER + batch.records.length;
        list.push({ partition: p, firstTimestamp: 0n, maxTimestamp: 0n, bodies: EMPTY_BODIES, deltas: EMPTY_DELTAS, size });
        total += 4 + 4 + size;
        continue;
      }
      // kafkajs sorts the timestamps as strings (Array.prototype.sort's default) and takes the ends.
      let first: unknown;
      let max: unknown;
      let firstText = '';
      let maxText = '';
      for (const m of messages) {
        if (m.timestamp === null || m.timestamp === undefined) continue;
        const text = String(m.timestamp);
        if (first === undefined || text < firstText) {
          first = m.timestamp;
          firstText = text;
        }
        if (max === undefined || text >= maxText) {
          max = m.timestamp;
          maxText = text;
        }
      }
      if (first === undefined) first = max = now;
      const firstTimestamp = int64(first);
      const maxTimestamp = int64(max);
      if (firstTimestamp === null || maxTimestamp === null) return null;
      const bodies = new Int32Array(messages.length);
      const deltas = new Float64Array(messages.length);
      let size = BATCH_HEADER;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as ProduceMessage;
        const delta = ((m.timestamp || now) as number) - (first as number);
        if (!Number.isSafeInteger(delta) || Math.abs(delta) > 2 ** 51) return null;
        const body = recordBodySize(m, i, delta);
        if (body < 0) return null;
        bodies[i] = body;
        deltas[i] = delta;
        size += uvarintSize(zigzag(body)) + body;
      }
      list.push({ partition: p, firstTimestamp, maxTimestamp, bodies, deltas, size });
      total += 4 + 4 + size;
    }
    plans.push(list);
  }
  const buf = withRoom(total, room);
  let o = writeString(buf, 0, args.transactionalId);
  o = buf.writeInt16BE(args.acks, o);
  o = buf.writeInt32BE(args.timeout, o);
  o = buf.writeInt32BE(args.topicData.length, o);
  args.topicData.forEach((t, ti) => {
    o = writeString(buf, o, t.topic);
    const list = plans[ti] as PlannedBatch[];
    o = buf.writeInt32BE(list.length, o);
    for (const b of list) {
      const messages = b.partition.messages;
      o = buf.writeInt32BE(b.partition.partition, o);
      o = buf.writeInt32BE(b.size, o);
      const start = o;
      const batch = messages[ENCODED_BATCH];
      if (batch !== undefined) {
        writeEncodedBatchHeader(buf, o, batch, {
          producerId, producerEpoch: args.producerEpoch ?? 0, firstSequence: b.partition.firstSequence ?? 0, transactional: Boolean(args.transactionalId),
        });
        batch.records.copy(buf, o + BATCH_HEADER);
        o += b.size;
        continue;
      }
      writeBatchHeader(buf, o, {
        firstOffset: 0n, size: b.size, partitionLeaderEpoch: 0, transactional: Boolean(args.transactionalId), lastOffsetDelta: messages.length - 1,
        firstTimestamp: b.firstTimestamp, maxTimestamp: b.maxTimestamp, producerId, producerEpoch: args.producerEpoch ?? 0,
        firstSequence: b.partition.firstSequence ?? 0, count: messages.length,
      });
      o += BATCH_HEADER;
      for (let i = 0; i < messages.length; i++) o = writeRecord(buf, o, messages[i] as ProduceMessage, i, b.deltas[i] as number, b.bodies[i] as number);
      if (o !== start + b.size) throw new Error(`produce encoder wrote ${o - start} of ${b.size} bytes`);
      sealBatch(buf, start, o);
    }
  });
  if (o !== total) throw new Error(`produce encoder wrote ${o} of ${total} bytes`);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The request frame (size, API key and version, correlation id, client id) around every request.

/**
 * Bodies written with room for their frame before them: the memory block's body offset. A block of
 * its own (never Node's shared pool, whose other slices could lie before the body).
 */
const ROOM = new WeakMap<ArrayBufferLike, number>();

/** Room for `size` bytes with `room` bytes free before them (framed in place by frameRequest). */
function withRoom(size: number, room: number): Buffer {
  if (room <= 0) return Buffer.allocUnsafe(size);
  const block = Buffer.allocUnsafeSlow(room + size);
  ROOM.set(block.buffer, room);
  return block.subarray(room);
}

/** Room left before a produce request for its frame: size, API key and version, correlation id and a client id of up to 242 bytes. */
export const FRAME_ROOM = 256;

/**
 * A request's bytes as kafkajs's protocol/request.js frames them: it copied the body into a
 * zero-filled encoder of the next power of two and that into another (a produce request's megabyte
 * three times); here one buffer of the exact size and one copy.
 */
export function frameRequest(body: Buffer, apiKey: number, apiVersion: number, correlationId: number, clientId: string | null | undefined): Buffer {
  const size = 2 + 2 + 4 + stringBytes(clientId) + body.length;
  const header = 4 + size - body.length;
  // A body written with room before it (withRoom) is framed where it lies: no copy of a produce request.
  if (ROOM.get(body.buffer) === body.byteOffset && body.byteOffset >= header) {
    const framed = Buffer.from(body.buffer, body.byteOffset - header, header + body.length);
    let o = framed.writeInt32BE(size, 0);
    o = framed.writeInt16BE(apiKey, o);
    o = framed.writeInt16BE(apiVersion, o);
    o = framed.writeInt32BE(correlationId, o);
    o = writeString(framed, o, clientId);
    if (o !== header) throw new Error(`request frame wrote ${o} of ${header} bytes`);
    return framed;
  }
  const buf = Buffer.allocUnsafe(4 + size);
  let o = buf.writeInt32BE(size, 0);
  o = buf.writeInt16BE(apiKey, o);
  o = buf.writeInt16BE(apiVersion, o);
  o = buf.writeInt32BE(correlationId, o);
  o = writeString(buf, o, clientId);
  body.copy(buf, o);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Record v0 decoding (consumer side).

interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}
interface RecordContext {
  firstOffset?: string;
  firstTimestamp?: string;
  maxTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
}

/** A zigzag varlong read as a number, or null (offset unchanged) beyond what a double holds exactly. */
function readVarLongNumber(d: KafkajsDecoder): number | null {
  const buf = d.buffer;
  let o = d.offset;
  let result = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= 7 || o >= buf.length) return null; // 7 bytes hold 49 bits: exact
    const b = buf[o++] as number;
    result += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) break;
  }
  d.offset = o;
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

/** A decimal base (a batch's first offset or first timestamp) read once, then plus each record's delta. */
class DecimalBase {
  private text = '';
  private value = 0;
  /** `base` plus `delta`, as kafkajs's Long would write it, or null when not exact as a number. */
  add(base: string | undefined, delta: number): string | null {
    if (base === undefined) return null;
    if (base !== this.text) {
      if (!/^-?\d{1,15}$/.test(base)) return null;
      this.text = base;
      this.value = Number(base);
    }
    const sum = this.value + delta;
    return Number.isSafeInteger(sum) ? String(sum) : null;
  }
}

/** The record decoder installed in kafkajs, around kafkajs's `original` (which reads what it does not). */
export function makeRecordDecoder(original: (d: KafkajsDecoder, c?: RecordContext) => unknown, logAppendTime: number) {
  // One base each: a record adds to both, so a shared one would be read again for every record.
  const offsets = new DecimalBase();
  const timestamps = new DecimalBase();
  return (decoder: KafkajsDecoder, batchContext: RecordContext = {}): unknown => {
    const start = decoder.offset;
    const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const attributes = decoder.readInt8();
    const timestampDelta = readVarLongNumber(decoder);
    const timestamp = timestampDelta === null ? null : timestampType === logAppendTime && maxTimestamp ? maxTimestamp : timestamps.add(firstTimestamp, timestampDelta);
    const offset = timestamp === null ? null : offsets.add(firstOffset, decoder.readVarInt());
    if (offset === null) {
      decoder.offset = start;
      return original(decoder, batchContext);
    }
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const count = decoder.readVarInt();
    const headers: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const k = decoder.readVarIntString() as string;
      const v = decoder.readVarIntBytes();
      if (k === '__proto__') {
        // An assignment would set the prototype; kafkajs's spread defines the property.
        decoder.offset = start;
        return original(decoder, batchContext);
      }
      const had = headers[k];
      headers[k] = had === undefined ? v : Array.isArray(had) ? had.concat([v]) : [had, v];
    }
    return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
  };
}

// ---------------------------------------------------------------------------------------------
// A fetched partition's batch (consumer/batch.js).

interface BatchMessage { offset: string; isControlRecord?: boolean }
interface PartitionData { partition: number; highWatermark: string; abortedTransactions?: unknown[]; messages: BatchMessage[] | FetchedColumns }
interface BatchInstance {
  rawMessages: BatchMessage[];
  messagesWithinOffset: BatchMessage[];
  messages: BatchMessage[];
  isEmptyControlRecord(): boolean;
  firstOffset(): string | null;
  lastOffset(): string;
}
type BatchClass = new (topic: string, fetchedOffset: string, partitionData: PartitionData) => BatchInstance;
interface LongValue { gte(other: LongValue): boolean }
interface LongModule { fromValue(v: unknown): LongValue }
type FilterAborted = (args: { messages: BatchMessage[]; abortedTransactions?: unknown[] }) => BatchMessage[];

interface AbortedTransaction { producerId: string; firstOffset: string }

/** A record set read as columns: the records kept, where kafkajs keeps an array of messages. */
function keptColumns(all: FetchedColumns, from: number, abortedTransactions: readonly AbortedTransaction[] | undefined): FetchedColumns {
  const within = from === 0 ? all : all.slice(from, all.length);
  const aborted = abortedTransactions ?? [];
  let control = false;
  for (const c of within.contexts) control ||= c.isControlBatch;
  if (aborted.length === 0 && !control) return within;
  // kafkajs's filterAbortedMessages, record by record, then its removal of control records.
  const remaining = [...aborted];
  const current = new Set<string>();
  const keep: number[] = [];
  const buf = within.buffer;
  for (let n = 0; n < within.length; n++) {
    const first = remaining[0];
    if (first !== undefined && BigInt(within.offsets[n] as number) >= BigInt(first.firstOffset)) {
      current.add(first.producerId);
      remaining.shift();
    }
    const context = within.context(n);
    const i = n * 4;
    const k = within.index[i] as number;
    const abortMarker = within.index[i + 1] === 4 && buf[k] === 0 && buf[k + 1] === 0 && buf[k + 2] === 0 && buf[k + 3] === 0;
    if (abortMarker) current.delete(context.producerId);
    else if (current.has(context.producerId) && context.inTransaction) continue;
    if (!context.isControlBatch) keep.push(n);
  }
  return keep.length === within.length ? within : within.select(keep);
}

/**
 * kafkajs's Batch, with the same fields and methods, whose constructor compares offsets as numbers
 * where they are exact (kafkajs made a 64-bit Long of every record's offset to drop those before
 * the fetched offset). A record set read as columns (makeDecodeMessages) stays columns: its
 * `messages` has kafkajs's `length` and last element, and the methods read the columns.
 */
export function fastBatch(Original: BatchClass, Long: LongModule, filterAbortedMessages: FilterAborted): BatchClass {
  return class Batch extends Original {
    private columns: { raw: FetchedColumns; within: FetchedColumns; kept: FetchedColumns } | null = null;

    constructor(topic: string, fetchedOffset: string, partitionData: PartitionData) {
      // Built on no messages (cheap), then given the partition's.
      super(topic, fetchedOffset, { ...partitionData, messages: [] });
      const messages = partitionData.messages as BatchMessage[] | FetchedColumns;
      const from = Number(fetchedOffset);
      const exact = Number.isSafeInteger(from);
      if (messages instanceof FetchedColumns) {
        // Offsets below the fetched one lead the record set (a fetch starts inside a record batch).
        let lo = 0;
        const target = exact ? from : null;
        while (lo < messages.length && (target === null ? BigInt(messages.offsets[lo] as number) < BigInt(fetchedOffset) : (messages.offsets[lo] as number) < target)) lo++;
        const within = lo === 0 ? messages : messages.slice(lo, messages.length);
        const kept = keptColumns(messages, lo, partitionData.abortedTransactions as AbortedTransaction[] | undefined);
        this.columns = { raw: messages, within, kept };
        // kafkajs's runner reads the batch's size and its last message.
        if (kept.length > 0) Object.defineProperty(kept, kept.length - 1, { get: () => kept.lazy(kept.length - 1), enumerable: false });
        this.rawMessages = messages as unknown as BatchMessage[];
        this.messagesWithinOffset = within as unknown as BatchMessage[];
        this.messages = kept as unknown as BatchMessage[];
        return;
      }
      const longFrom = exact ? null : Long.fromValue(fetchedOffset);
      const within = (m: BatchMessage): boolean => {
        if (longFrom === null) {
          const n = m instanceof LazyRecord ? m.view.offset : Number(m.offset);
          if (Number.isSafeInteger(n)) return n >= from;
        }
        return Long.fromValue(m.offset).gte(longFrom ?? Long.fromValue(fetchedOffset));
      };
      this.rawMessages = messages;
      // Usually every record is at or past the fetched offset: then the array itself.
      const first = messages[0];
      this.messagesWithinOffset = first === undefined || within(first) ? messages : messages.filter(within);
      const kept = filterAbortedMessages({ messages: this.messagesWithinOffset, abortedTransactions: partitionData.abortedTransactions });
      this.messages = kept.some((m) => m.isControlRecord) ? kept.filter((m) => !m.isControlRecord) : kept;
    }

    /** The records kept, as columns, when the record set was read as columns. */
    get keptColumns(): FetchedColumns | null {
      return this.columns?.kept ?? null;
    }

    override isEmptyControlRecord(): boolean {
      const c = this.columns;
      if (c === null) return super.isEmptyControlRecord();
      if (c.kept.length > 0) return false;
      for (let n = 0; n < c.within.length; n++) if (c.within.context(n).isControlBatch) return true;
      return false;
    }

    override firstOffset(): string | null {
      const c = this.columns;
      if (c === null) return super.firstOffset();
      return c.within.length === 0 ? null : String(c.within.offsets[0]);
    }

    override lastOffset(): string {
      const c = this.columns;
      if (c === null || c.within.length === 0) return super.lastOffset();
      return String(c.within.offsets[c.within.length - 1]);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Installation.

interface PartitionerArgs { topic: string; partitionMetadata: unknown[]; message: unknown }
type Partitioner = (args: PartitionerArgs) => number;

function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: Partitioner }): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const batch = (message as Partial<EncodedBatchMessage>)[ENCODED_BATCH];
    if (batch !== undefined) {
      // A produce request holds one record batch per partition (version 3 on): the batch alone.
      if (result[batch.partition] !== undefined) throw new Error(`an encoded record batch for ${topic} partition ${batch.partition} shares a send with other records for that partition`);
      result[batch.partition] = encodedPartitionMessages(batch);
      continue;
    }
    const partition = partitioner({ topic, partitionMetadata, message });
    const group = (result[partition] ??= []) as PartitionMessages;
    if (group[ENCODED_BATCH] !== undefined) throw new Error(`an encoded record batch for ${topic} partition ${partition} shares a send with other records for that partition`);
    group.push(message as ProduceMessage);
  }
  return result;
}

export interface FastpathState {
  /** True when the replacements are in kafkajs's module cache. */
  installed: boolean;
  /** Why not, when not. */
  reason?: string;
}

let state: FastpathState | null = null;

function seed(id: string, exports: unknown): void {
  const filename = require.resolve(id);
  const Module = require('node:module') as { Module: new (id: string) => { filename: string; loaded: boolean; exports: unknown; paths: string[] } };
  const m = new Module.Module(filename);
  m.filename = filename;
  m.loaded = true;
  m.exports = exports;
  require.cache[filename] = m as unknown as NodeJS.Module;
}

/**
 * Puts the replacements into the module cache. Must run before anything requires kafkajs; run
 * again, it reports the first outcome. `REPROCESS_KAFKAJS_FASTPATH=0` leaves kafkajs as shipped.
 */
export function installKafkajsFastpath(): FastpathState {
  if (state) return state;
  if (process.env.REPROCESS_KAFKAJS_FASTPATH === '0') return (state = { installed: false, reason: 'REPROCESS_KAFKAJS_FASTPATH=0' });
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (version !== FASTPATH_KAFKAJS_VERSION) {
    return (state = { installed: false, reason: `kafkajs ${version} is not ${FASTPATH_KAFKAJS_VERSION}` });
  }
  if (require.cache[require.resolve('kafkajs')]) {
    return (state = { installed: false, reason: 'kafkajs was loaded before the fast path could be installed' });
  }
  const Encoder = require(MODULES.encoder) as { prototype: object };
  const originalRecord = require(MODULES.record) as (args: RecordArgs) => unknown;
  // Evict the original so that kafkajs's requires find the replacement.
  delete require.cache[require.resolve(MODULES.record)];
  seed(MODULES.record, (args: RecordArgs) => {
    const buf = encodeRecordV0(args);
    if (buf === null) return originalRecord(args);
    // An Encoder holding exactly the record: kafkajs only reads `buf`, `offset` and `buffer`.
    const enc = Object.create(Encoder.prototype) as { buf: Buffer; offset: number };
    enc.buf = buf;
    enc.offset = buf.length;
    return enc;
  });
  seed(MODULES.crc32c, crc32c);
  const originalRecordDecoder = require(MODULES.recordDecoder) as (d: KafkajsDecoder, c?: RecordContext) => unknown;
  delete require.cache[require.resolve(MODULES.recordDecoder)];
  const timestampTypes = require(MODULES.timestampTypes) as { LOG_APPEND_TIME: number };
  seed(MODULES.recordDecoder, makeRecordDecoder(originalRecordDecoder, timestampTypes.LOG_APPEND_TIME));
  // The batch module exports an object that the produce request destructures when it loads: its
  // RecordBatch is replaced in place (MAGIC_BYTE and the rest stay kafkajs's).
  const batchModule = require(MODULES.recordBatch) as { RecordBatch: (args: BatchArgs) => Promise<unknown> };
  const originalBatch = batchModule.RecordBatch;
  batchModule.RecordBatch = async (args: BatchArgs) => {
    const buf = encodeRecordBatchV2(args);
    if (buf === null) return originalBatch(args);
    const enc = Object.create(Encoder.prototype) as EncoderLike;
    enc.buf = buf;
    enc.offset = buf.length;
    return enc;
  };
  seed(MODULES.group, groupMessagesPerPartition);
  // Loaded after the record and batch replacements, so its fallback uses them too.
  const originalProduce = require(MODULES.produceV3) as (args: ProduceArgs) => { encode: () => Promise<unknown> };
  delete require.cache[require.resolve(MODULES.produceV3)];
  seed(MODULES.produceV3, (args: ProduceArgs) => {
    const request = originalProduce(args);
    const encode = request.encode;
    request.encode = async () => {
      const buf = encodeProduceRequestV3(args, Date.now(), FRAME_ROOM);
      if (buf === null) return encode();
      const enc = Object.create(Encoder.prototype) as EncoderLike;
      enc.buf = buf;
      enc.offset = buf.length;
      return enc;
    };
    return request;
  });
  // Consuming: record batches read as LazyRecords (kafkajs-records.ts). Loaded after the record
  // decoder's replacement, so kafkajs's batch decoder, kept for what ours leaves to it, uses it.
  const originalBatchDecoder = require(MODULES.batchDecoder) as Parameters<typeof makeRecordBatchDecoder>[0]['original'];
  delete require.cache[require.resolve(MODULES.batchDecoder)];
  seed(MODULES.batchDecoder, makeRecordBatchDecoder({
    original: originalBatchDecoder,
    lookupCodecByAttributes: (require(MODULES.compression) as { lookupCodecByAttributes: Parameters<typeof makeRecordBatchDecoder>[0]['lookupCodecByAttributes'] }).lookupCodecByAttributes,
    PartialMessageError: (require(MODULES.errors) as { KafkaJSPartialMessageError: new (m: string) => Error }).KafkaJSPartialMessageError,
    logAppendTime: timestampTypes.LOG_APPEND_TIME,
  }));
  // A fetched partition's record set as columns (no object per record); kafkajs's decoder, kept for
  // what ours leaves to it, uses the batch decoder above.
  const originalDecodeMessages = require(MODULES.decodeMessages) as Parameters<typeof makeDecodeMessages>[0];
  delete require.cache[require.resolve(MODULES.decodeMessages)];
  seed(MODULES.decodeMessages, makeDecodeMessages(originalDecodeMessages, timestampTypes.LOG_APPEND_TIME));
  seed(MODULES.consumerBatch, fastBatch(require(MODULES.consumerBatch) as BatchClass, require(MODULES.long) as LongModule, require('kafkajs/src/consumer/filterAbortedMessages.js') as FilterAborted));
  // A fetcher that fetches the next round while a fetch-ahead consumer processes this one.
  seed(MODULES.fetcher, createFetcher);
  interface FramedRequest { apiKey: number; apiVersion: number; encode: () => Promise<{ buffer: Buffer }> }
  seed(MODULES.request, async ({ correlationId, clientId, request }: { correlationId: number; clientId: string | null; request: FramedRequest }) => {
    const payload = await request.encode();
    const buf = frameRequest(payload.buffer, request.apiKey, request.apiVersion, correlationId, clientId);
    const enc = Object.create(Encoder.prototype) as EncoderLike;
    enc.buf = buf;
    enc.offset = buf.length;
    return enc;
  });
  return (state = { installed: true });
}

/** kafkajs, loaded after the fast path was installed (or as shipped, when it could not be). */
export function loadKafkajs(): typeof import('kafkajs') {
  installKafkajsFastpath();
  return require('kafkajs') as typeof import('kafkajs');
}
