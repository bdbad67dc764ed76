/**
 * Consumed records that are read where they lie. kafkajs 2.2.4 decodes every consumed record into
 * an object with a Buffer view each for its key and value, a headers object and decimal strings for
 * its offset and timestamp, and then compares each offset through a 64-bit Long: on the replay's
 * Kafka thread that was most of its per-record work. Here a fetched partition's record set of
 * uncompressed batches is walked once, reading only lengths and deltas, into columns (typed
 * arrays over the fetch response: `FetchedColumns`, at the end of this file); a record object is
 * made from them only when one is asked for, as a `LazyRecord` that knows where its key and value
 * lie and makes the Buffers and strings on first use. Batches read by kafkajs's own decoder
 * (compressed ones) are LazyRecords from the start.
 *
 * A consumer that opts in (`rawRecords`) gets the columns (`ConsumedBatch.columns`) and these
 * records as they are; every other consumer gets plain objects made from them (`materialize`),
 * exactly what kafkajs's own decoder returned.
 */
import type { RecordColumns } from './columns.js';
import type { ConsumedRecord, HeaderValue } from './types.js';

/** A record's place in the buffer it was fetched in, and its offset and timestamp as numbers. */
export interface RawView {
  buffer: Buffer;
  /** Start of the key (valid when keyLength ≥ 0; -1: a null key). */
  keyStart: number;
  keyLength: number;
  valueStart: number;
  valueLength: number;
  offset: number;
  timestamp: number;
}

/** What kafkajs's record batch decoder hands each record as `batchContext` (and what it returns for the batch). */
export interface RecordContext {
  firstOffset: string;
  firstTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  maxTimestamp: string;
  timestampType: number;
  magicByte?: number;
}

/** Reads a zigzag varint at `at` of `buf`; `pos[0]` is where it ends. Null past 7 bytes (beyond what a double holds) or past the end. */
function varint(buf: Buffer, at: number, end: number, pos: Int32Array): number | null {
  let result = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= 7 || at >= end) return null;
    const b = buf[at++] as number;
    result += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) break;
  }
  pos[0] = at;
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

/**
 * `String(n)` for a whole number, faster for the 13-digit ones that millisecond timestamps are:
 * V8 writes a number above 2^31 through its general double-to-text path, and two halves below
 * 2^31 through its small-integer one (a replay reads one timestamp per record).
 */
export function decimal(n: number): string {
  if (!(n >= 1e6 && n <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(n)) return String(n);
  const high = Math.floor(n / 1e6);
  // 1e6 + low has seven digits: the six of low, zero-padded, after a leading 1.
  return `${high}${String(1e6 + (n - high * 1e6)).slice(1)}`;
}

/**
 * A record that knows where it lies (`view`): its offset and timestamp as strings and its key and
 * value as Buffers are made on first use.
 */
export class ViewRecord {
  private offsetText: string | undefined;
  private keyBuffer: Buffer | null | undefined;
  private valueBuffer: Buffer | null | undefined;

  constructor(readonly view: RawView) {}

  get offset(): string {
    return (this.offsetText ??= String(this.view.offset));
  }

  get timestamp(): string {
    return decimal(this.view.timestamp);
  }

  get key(): Buffer | null {
    if (this.keyBuffer === undefined) {
      const v = this.view;
      this.keyBuffer = v.keyLength < 0 ? null : v.buffer.subarray(v.keyStart, v.keyStart + v.keyLength);
    }
    return this.keyBuffer;
  }

  get value(): Buffer | null {
    if (this.valueBuffer === undefined) {
      const v = this.view;
      this.valueBuffer = v.valueLength < 0 ? null : v.buffer.subarray(v.valueStart, v.valueStart + v.valueLength);
    }
    return this.valueBuffer;
  }
}

/**
 * One consumed record, with kafkajs's record fields (`magicByte`, `attributes`, `offset`,
 * `timestamp`, `key`, `value`, `headers`, `isControlRecord`, `batchContext`); the Buffers and
 * strings are made on first use.
 */
export class LazyRecord extends ViewRecord {
  readonly magicByte: number;
  readonly attributes: number;
  readonly isControlRecord: boolean;
  private headerMap: Record<string, HeaderValue | HeaderValue[]> | undefined;

  constructor(
    view: RawView,
    /** Where the header count starts, and where the record ends. */
    private readonly headersAt: number,
    private readonly end: number,
    readonly batchContext: RecordContext,
    attributes: number,
  ) {
    super(view);
    this.magicByte = batchContext.magicByte ?? 2;
    this.attributes = attributes;
    this.isControlRecord = batchContext.isControlBatch;
  }

  get headers(): Record<string, HeaderValue | HeaderValue[]> {
    if (this.headerMap === undefined) {
      const buf = this.view.buffer;
      const pos = new Int32Array(1);
      const headers: Record<string, HeaderValue | HeaderValue[]> = {};
      const count = varint(buf, this.headersAt, this.end, pos) ?? 0;
      let at = pos[0] as number;
      const bytes = (): Buffer | null => {
        const n = varint(buf, at, this.end, pos);
        if (n === null) throw new RangeError('a record header runs past its record');
        at = pos[0] as number;
        if (n < 0) return null;
        const b = buf.subarray(at, at + n);
        at += n;
        return b;
      };
      for (let i = 0; i < count; i++) {
        const k = String(bytes()?.toString('utf8') ?? null);
        const v = bytes() as Buffer;
        // As kafkajs: a repeated key collects its values in an array; defined, never assigned (`__proto__`).
        const had = headers[k];
        Object.defineProperty(headers, k, { value: had === undefined ? v : Array.isArray(had) ? had.concat([v]) : [had, v], enumerable: true, writable: true, configurable: true });
      }
      this.headerMap = headers;
    }
    return this.headerMap;
  }
}

/** A plain record object with kafkajs's fields, for consumers that did not ask for lazy records. */
export function materialize(record: unknown): unknown {
  if (!(record instanceof LazyRecord)) return record;
  return {
    magicByte: record.magicByte, attributes: record.attributes, timestamp: record.timestamp, offset: record.offset,
    key: record.key, value: record.value, headers: record.headers, isControlRecord: record.isControlRecord, batchContext: record.batchContext,
  };
}

/**
 * The records of one uncompressed (or already decompressed) record set, `count` of them from `at`
 * to `end` of `buf`, as LazyRecords; null when a record is not what this reader handles (an
 * offset or timestamp beyond what a double holds exactly, a malformed length), so that the caller
 * leaves the batch to kafkajs.
 */
export function lazyRecords(buf: Buffer, at: number, end: number, count: number, context: RecordContext, logAppendTime: number): LazyRecord[] | null {
  const b = new ColumnsBuilder(buf, count);
  return readRecordsInto(buf, at, end, count, context, logAppendTime, b) ? b.finish().records() : null;
}

interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  slice(size: number): KafkajsDecoder;
  forward(size: number): void;
  readAll(): Buffer;
}
interface Codec { decompress(buf: Buffer): Promise<Buffer> }
export interface BatchDecoderDeps {
  /** kafkajs's own record batch decoder, for what this one leaves to it. */
  original: (d: KafkajsDecoder) => Promise<unknown>;
  lookupCodecByAttributes: (attributes: number) => Codec | undefined;
  PartialMessageError: new (message: string) => Error;
  logAppendTime: number;
}

const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;

/**
 * kafkajs's record batch decoder (protocol/recordBatch/v0/decoder.js), field for field, with its
 * records read as LazyRecords. A batch whose records this reader does not handle goes to kafkajs's.
 */
export function makeRecordBatchDecoder(deps: BatchDecoderDeps) {
  return async (fetchDecoder: KafkajsDecoder): Promise<unknown> => {
    const start = fetchDecoder.offset;
    const firstOffset = fetchDecoder.readInt64().toString();
    const length = fetchDecoder.readInt32();
    const decoder = fetchDecoder.slice(length);
    fetchDecoder.forward(length);
    const remainingBytes = decoder.buffer.length;
    if (remainingBytes < length) {
      throw new deps.PartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`);
    }
    const partitionLeaderEpoch = decoder.readInt32();
    const magicByte = decoder.readInt8();
    decoder.readInt32(); // the CRC: not checked, as kafkajs does not
    const attributes = decoder.readInt16();
    const lastOffsetDelta = decoder.readInt32();
    const firstTimestamp = decoder.readInt64().toString();
    const maxTimestamp = decoder.readInt64().toString();
    const producerId = decoder.readInt64().toString();
    const producerEpoch = decoder.readInt16();
    const firstSequence = decoder.readInt32();
    const recordContext: RecordContext = {
      firstOffset, firstTimestamp, partitionLeaderEpoch,
      inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
      isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
      lastOffsetDelta, producerId, producerEpoch, firstSequence, maxTimestamp,
      timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? deps.logAppendTime : 0,
    };
    const context: RecordContext = { ...recordContext, magicByte };
    const codec = deps.lookupCodecByAttributes(attributes);
    const count = decoder.readInt32();
    let records: LazyRecord[] | null = [];
    if (count > 0) {
      if (!codec) {
        records = lazyRecords(decoder.buffer, decoder.offset, decoder.buffer.length, count, context, deps.logAppendTime);
      } else {
        const buf = await codec.decompress(decoder.readAll());
        records = lazyRecords(buf, 0, buf.length, count, context, deps.logAppendTime);
      }
    }
    if (records === null) {
      fetchDecoder.offset = start;
      return deps.original(fetchDecoder);
    }
    return { ...recordContext, records };
  };
}

// ---------------------------------------------------------------------------------------------
// A fetched partition's records as columns (columns.ts): no object per record.

/**
 * The records of a fetched partition's record set, read where they lie in the fetch response:
 * the columns of RecordColumns, plus per record where its headers start, where it ends, its
 * attributes and which record batch it came in (whose context kafkajs gives each record).
 */
export class FetchedColumns implements RecordColumns {
  constructor(
    readonly buffer: Buffer,
    readonly index: Int32Array,
    /** Four per record: header count start, record end, attributes, record batch (in `contexts`). */
    private readonly extra: Int32Array,
    readonly offsets: Float64Array,
    readonly timestamps: Float64Array,
    readonly contexts: readonly RecordContext[],
  ) {}

  get length(): number {
    return this.offsets.length;
  }

  /** The record batch record `n` came in. */
  context(n: number): RecordContext {
    return this.contexts[this.extra[n * 4 + 3] as number] as RecordContext;
  }

  /** Record `n` as a LazyRecord (kafkajs's fields; a repeated header's values in an array, as kafkajs gives them). */
  record(n: number): ConsumedRecord {
    return this.lazy(n) as unknown as ConsumedRecord;
  }

  lazy(n: number): LazyRecord {
    if (!(n >= 0 && n < this.length)) throw new RangeError(`record ${n} of ${this.length}`);
    const i = n * 4;
    const view: RawView = {
      buffer: this.buffer, keyStart: this.index[i] as number, keyLength: this.index[i + 1] as number, valueStart: this.index[i + 2] as number, valueLength: this.index[i + 3] as number,
      offset: this.offsets[n] as number, timestamp: this.timestamps[n] as number,
    };
    return new LazyRecord(view, this.extra[i] as number, this.extra[i + 1] as number, this.context(n), this.extra[i + 2] as number);
  }

  /** Every record as a LazyRecord. */
  records(): LazyRecord[] {
    const out: LazyRecord[] = new Array(this.length);
    for (let n = 0; n < out.length; n++) out[n] = this.lazy(n);
    return out;
  }

  *[Symbol.iterator](): IterableIterator<LazyRecord> {
    for (let n = 0; n < this.length; n++) yield this.lazy(n);
  }

  /**
   * As an array of LazyRecords would: for kafkajs code that meets these columns unprepared (its
   * own Batch, in an instance of kafkajs loaded apart from the one the fast path was installed in
   * but sharing its module cache), which then carries on with arrays.
   */
  filter(keep: (r: LazyRecord, n: number) => unknown): LazyRecord[] {
    return this.records().filter(keep);
  }

  map<T>(f: (r: LazyRecord, n: number) => T): T[] {
    return this.records().map(f);
  }

  some(test: (r: LazyRecord, n: number) => unknown): boolean {
    return this.records().some(test);
  }

  slice(from: number, to: number): FetchedColumns {
    return new FetchedColumns(this.buffer, this.index.subarray(from * 4, to * 4), this.extra.subarray(from * 4, to * 4), this.offsets.subarray(from, to), this.timestamps.subarray(from, to), this.contexts);
  }

  /** The records at `keep` (ascending), copied into columns of their own over the same buffer. */
  select(keep: readonly number[]): FetchedColumns {
    const index = new Int32Array(keep.length * 4);
    const extra = new Int32Array(keep.length * 4);
    const offsets = new Float64Array(keep.length);
    const timestamps = new Float64Array(keep.length);
    for (let k = 0; k < keep.length; k++) {
      const n = keep[k] as number;
      index.set(this.index.subarray(n * 4, n * 4 + 4), k * 4);
      extra.set(this.extra.subarray(n * 4, n * 4 + 4), k * 4);
      offsets[k] = this.offsets[n] as number;
      timestamps[k] = this.timestamps[n] as number;
    }
    return new FetchedColumns(this.buffer, index, extra, offsets, timestamps, this.contexts);
  }
}

/** Grows typed arrays as record batches are read into them. */
class ColumnsBuilder {
  count = 0;
  index: Int32Array;
  extra: Int32Array;
  offsets: Float64Array;
  timestamps: Float64Array;
  readonly contexts: RecordContext[] = [];

  constructor(readonly buffer: Buffer, capacity: number) {
    this.index = new Int32Array(capacity * 4);
    this.extra = new Int32Array(capacity * 4);
    this.offsets = new Float64Array(capacity);
    this.timestamps = new Float64Array(capacity);
  }

  /** Room for `more` records. */
  reserve(more: number): void {
    const need = this.count + more;
    if (need <= this.offsets.length) return;
    const capacity = Math.max(need, this.offsets.length * 2);
    const grow = <T extends Int32Array | Float64Array>(a: T, per: number, make: (n: number) => T): T => {
      const b = make(capacity * per);
      b.set(a.subarray(0, this.count * per));
      return b;
    };
    this.index = grow(this.index, 4, (n) => new Int32Array(n));
    this.extra = grow(this.extra, 4, (n) => new Int32Array(n));
    this.offsets = grow(this.offsets, 1, (n) => new Float64Array(n));
    this.timestamps = grow(this.timestamps, 1, (n) => new Float64Array(n));
  }

  finish(): FetchedColumns {
    const n = this.count;
    return new FetchedColumns(this.buffer, this.index.subarray(0, n * 4), this.extra.subarray(0, n * 4), this.offsets.subarray(0, n), this.timestamps.subarray(0, n), this.contexts);
  }
}

/** A RecordBatch v2 header's size up to its records; kafkajs reads a batch only with this many bytes left (RECORD_BATCH_OVERHEAD). */
const RECORD_BATCH_OVERHEAD = 49;
const RECORDS_AT = 61;
const COMPRESSION_MASK = 0x07;

/**
 * Reads the uncompressed RecordBatch v2 at `at` of `buf` into `b`. Returns where the next batch
 * starts, 'partial' for a batch cut off at the end of the record set (the fetch's size limit:
 * kafkajs stops there too), or 'other' for a batch this reader leaves to kafkajs (compressed,
 * another magic, an offset or timestamp beyond what a double holds, a malformed record).
 */
function readBatchInto(buf: Buffer, at: number, b: ColumnsBuilder, logAppendTime: number): number | 'partial' | 'other' {
  const length = buf.readInt32BE(at + 8);
  if (length < 0) return 'other';
  const end = at + 12 + length;
  if (end > buf.length) return 'partial';
  if (end < at + RECORDS_AT || buf[at + 16] !== 2) return 'other';
  const attributes = buf.readInt16BE(at + 21);
  if ((attributes & COMPRESSION_MASK) !== 0) return 'other';
  const recordContext: RecordContext = {
    firstOffset: buf.readBigInt64BE(at).toString(), firstTimestamp: buf.readBigInt64BE(at + 27).toString(), partitionLeaderEpoch: buf.readInt32BE(at + 12),
    inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
    isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
    lastOffsetDelta: buf.readInt32BE(at + 23), producerId: buf.readBigInt64BE(at + 43).toString(), producerEpoch: buf.readInt16BE(at + 51),
    firstSequence: buf.readInt32BE(at + 53), maxTimestamp: buf.readBigInt64BE(at + 35).toString(),
    timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? logAppendTime : 0,
    magicByte: 2,
  };
  const count = buf.readInt32BE(at + 57);
  if (count <= 0) return end;
  return readRecordsInto(buf, at + RECORDS_AT, end, count, recordContext, logAppendTime, b) ? end : 'other';
}

/**
 * Reads the `count` records at [at, end) of `buf`, record batch `context`'s, into `b` (the batch's
 * context goes into `b.contexts`). False, with `b` as it was, for a record this reader leaves to
 * kafkajs: an offset or timestamp beyond what a double holds exactly, a malformed length.
 */
function readRecordsInto(buf: Buffer, at: number, end: number, count: number, context: RecordContext, logAppendTime: number, b: ColumnsBuilder): boolean {
  const base = Number(context.firstOffset);
  const baseTime = Number(context.firstTimestamp);
  const maxTime = Number(context.maxTimestamp);
  if (!Number.isSafeInteger(base) || !Number.isSafeInteger(baseTime) || !Number.isSafeInteger(maxTime)) return false;
  const logAppend = context.timestampType === logAppendTime;
  const block = b.contexts.length;
  b.reserve(count);
  const { index, extra, offsets, timestamps } = b;
  const pos = new Int32Array(1);
  let p = at;
  let n = b.count;
  for (let r = 0; r < count; r++, n++) {
    const size = varint(buf, p, end, pos);
    if (size === null || size < 0) return false;
    const start = pos[0] as number;
    const recordEnd = start + size;
    if (recordEnd > end) return false;
    const timestampDelta = varint(buf, start + 1, recordEnd, pos);
    if (timestampDelta === null) return false;
    const offsetDelta = varint(buf, pos[0] as number, recordEnd, pos);
    if (offsetDelta === null) return false;
    const keyLength = varint(buf, pos[0] as number, recordEnd, pos);
    if (keyLength === null) return false;
    const keyStart = pos[0] as number;
    const valueLength = varint(buf, keyStart + Math.max(keyLength, 0), recordEnd, pos);
    if (valueLength === null) return false;
    const valueStart = pos[0] as number;
    const headersAt = valueStart + Math.max(valueLength, 0);
    if (headersAt > recordEnd) return false;
    const offset = base + offsetDelta;
    const timestamp = logAppend ? maxTime : baseTime + timestampDelta;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) return false;
    const i = n * 4;
    index[i] = keyStart;
    index[i + 1] = keyLength < 0 ? -1 : keyLength;
    index[i + 2] = valueStart;
    index[i + 3] = valueLength < 0 ? -1 : valueLength;
    extra[i] = headersAt;
    extra[i + 1] = recordEnd;
    extra[i + 2] = (buf[start] as number) << 24 >> 24;
    extra[i + 3] = block;
    offsets[n] = offset;
    timestamps[n] = timestamp;
    p = recordEnd;
  }
  b.count = n;
  b.contexts.push(context);
  return true;
}

interface MessagesDecoder {
  buffer: Buffer;
  offset: number;
  readInt32(): number;
  canReadBytes(n: number): boolean;
  readBytes(n: number): Buffer;
}

/**
 * kafkajs's fetch record set decoder (protocol/requests/fetch/v4/decodeMessages.js, used by fetch
 * versions 4 to 11) for record sets of uncompressed v2 batches: their records as FetchedColumns
 * instead of an array of objects. A record set holding anything else (a compressed batch, another
 * message format, a record this reader leaves to kafkajs) is read by kafkajs's own decoder, whole.
 */
export function makeDecodeMessages(original: (d: MessagesDecoder) => Promise<unknown>, logAppendTime: number) {
  return async (decoder: MessagesDecoder): Promise<unknown> => {
    const start = decoder.offset;
    const messagesSize = decoder.readInt32();
    if (messagesSize <= 0 || !decoder.canReadBytes(messagesSize)) return [];
    const buf = decoder.readBytes(messagesSize);
    if (buf.length <= 16 || buf[16] !== 2) {
      decoder.offset = start;
      return original(decoder);
    }
    // Room for as many records as the first batch's size per record says the set holds (grown if short).
    const firstLength = buf.length >= RECORDS_AT ? buf.readInt32BE(8) : 0;
    const firstCount = buf.length >= RECORDS_AT ? buf.readInt32BE(57) : 0;
    const perRecord = firstLength > 0 && firstCount > 0 ? (firstLength + 12) / firstCount : 100;
    const b = new ColumnsBuilder(buf, Math.ceil(buf.length / perRecord) + 16);
    let at = 0;
    while (buf.length - at >= RECORD_BATCH_OVERHEAD) {
      const next = readBatchInto(buf, at, b, logAppendTime);
      if (next === 'partial') break;
      if (next === 'other') {
        decoder.offset = start;
        return original(decoder);
      }
      at = next;
    }
    return b.finish();
  };
}
