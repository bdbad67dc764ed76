/**
 * Consumed records that are read where they lie. kafkajs 2.2.4 decodes every consumed record into
 * an object with a Buffer view each for its key and value, a headers object and decimal strings for
 * its offset and timestamp, and then compares each offset through a 64-bit Long: on the replay's
 * Kafka thread that was most of its per-record work. Here a record batch's records are walked
 * once, reading only their lengths and deltas, and each becomes a `LazyRecord` that knows where its
 * key and value are in the fetch response and makes the Buffers and strings only when asked.
 *
 * A consumer that opts in (`rawRecords`) gets these records as they are and can copy their bytes
 * straight out of the fetch response (`rawView`); every other consumer gets plain objects made
 * from them (`materialize`), exactly what kafkajs's own decoder returned.
 */
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

/** The record's raw view when it is read in place (the caller may copy its bytes straight out), else null. */
export function rawView(record: unknown): RawView | null {
  return record instanceof ViewRecord ? record.view : null;
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
  const firstOffset = Number(context.firstOffset);
  const firstTimestamp = Number(context.firstTimestamp);
  const maxTimestamp = Number(context.maxTimestamp);
  if (!Number.isSafeInteger(firstOffset) || !Number.isSafeInteger(firstTimestamp) || !Number.isSafeInteger(maxTimestamp)) return null;
  const logAppend = context.timestampType === logAppendTime;
  const pos = new Int32Array(1);
  const out: LazyRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const length = varint(buf, at, end, pos);
    if (length === null || length < 0) return null;
    const start = pos[0] as number;
    const recordEnd = start + length;
    if (recordEnd > end) return null;
    const attributes = (buf[start] as number) << 24 >> 24;
    const timestampDelta = varint(buf, start + 1, recordEnd, pos);
    if (timestampDelta === null) return null;
    const offsetDelta = varint(buf, pos[0] as number, recordEnd, pos);
    if (offsetDelta === null) return null;
    const keyLength = varint(buf, pos[0] as number, recordEnd, pos);
    if (keyLength === null) return null;
    const keyStart = pos[0] as number;
    const valueLength = varint(buf, keyStart + Math.max(keyLength, 0), recordEnd, pos);
    if (valueLength === null) return null;
    const valueStart = pos[0] as number;
    const headersAt = valueStart + Math.max(valueLength, 0);
    if (headersAt > recordEnd) return null;
    const offset = firstOffset + offsetDelta;
    const timestamp = logAppend ? maxTimestamp : firstTimestamp + timestampDelta;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) return null;
    out[i] = new LazyRecord({ buffer: buf, keyStart, keyLength, valueStart, valueLength, offset, timestamp }, headersAt, recordEnd, context, attributes);
    at = recordEnd;
  }
  return out;
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
