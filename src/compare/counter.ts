/**
 * A batch's comparison counters: records per time bucket, nulls per field, measure sums, records
 * and measure sums per dimension value, and records per record key, as the Redis hash fields and
 * increments the comparison applies (aggregator.ts).
 *
 * It reads each record where it lies in the fetched batch. Where it can (the usual event schema),
 * a compiled locator (avro-read.ts compileFastLocate) tells where the fields lie, and record keys
 * and dimension values are found by their bytes (BytesTable): no string and no object is made per
 * record. A record the locator does not read cleanly, or a schema it does not handle, is read
 * with the projection (projection.ts) and counted the same way.
 */
import type avro from 'avsc';
import { WIRE_HEADER_BYTES, decodeWireHeader, wireSchemaIdAt } from '../core/index.js';
import { ReprocessError, errorMessage } from '../errors.js';
import type { RecordColumns } from '../kafka/index.js';
import { offsetTextAt } from '../kafka/columns.js';
import { LOCATED_BOOLEAN, LOCATED_NULL, LOCATED_NUMBER, LOCATED_STRING, compileFastLocate, type FastLocate } from '../replay/avro-read.js';
import { BytesTable } from './bytes-table.js';
import { NULL_DIMENSION_VALUE, bucketOf } from './core/index.js';
import { projection, type Projection } from './projection.js';

/** Field names in a side's counter hash; the unit separator keeps data values from colliding. */
export const SEP = '\x1f';
/** Sums are kept in millionths, as integers. */
export const MICRO = 1_000_000;

/** The part of a sum's field name (after its prefix) that says which of the two it is. */
export const SUM_UNITS = 'su';
export const SUM_MILLIONTHS = 'sm';

/**
 * The two counter fields of a measure's sum (after `prefix`): whole units (`su`) and millionths
 * (`sm`). A batch's sum, exact in millionths, is sent as both (sumParts); Redis adds each as a
 * 64-bit integer, so a total holds ±9.2 × 10^18 units instead of the ±9.2 × 10^12 one field of
 * millionths would.
 */
export function sumFieldNames(prefix: string, measure: string): readonly [string, string] {
  return [`${prefix}${SUM_UNITS}${SEP}${measure}`, `${prefix}${SUM_MILLIONTHS}${SEP}${measure}`];
}

/** A sum in millionths (an integer, |sum| ≤ 2^53) as whole units and the millionths left, both integers. */
export function sumParts(micro: number): [number, number] {
  const units = Math.trunc(micro / MICRO);
  return [units, micro - units * MICRO];
}

/** The counter field holding a bucket's record count. */
export function bucketField(bucketStart: number): string {
  return `b${SEP}${bucketStart}`;
}

export interface CountSpec {
  dimensions: readonly string[];
  measures: readonly string[];
  nulls: readonly string[];
  bucketMs: number;
  /** The window by record timestamp: [fromMs, toMs). */
  fromMs: number;
  toMs: number;
}

/** How the records of one writer schema are read. */
export interface SchemaReader {
  projection: Projection;
  /** Null where the schema is not one the locator handles. */
  locate: FastLocate | null;
}

export interface BatchCounts {
  /** Counter field → increment. */
  fields: Map<string, number>;
  /**
   * Record keys and their increments, packed for the apply script (compare_apply.lua) as one
   * MessagePack array: key, increment, key, increment, … (packKeyCounts). Bytes of a key that are
   * not UTF-8 are packed as the text they read as (U+FFFD for each bad sequence): what Redis keeps
   * is the key's text, as when keys were sent as strings. In memory of its own.
   */
  keys: Buffer;
  /** Records counted (inside the window). */
  records: number;
}

/**
 * MessagePack, as much of it as the record keys' counts take (the apply script unpacks it with
 * Redis's cmsgpack, in C): an array header, strings of up to 2^32 - 1 bytes, whole numbers of
 * up to 2^32 - 1. Only the formats of MessagePack's first version, which every cmsgpack reads.
 */
/** `n` in the smallest of a MessagePack family's three forms: in the tag itself (below `fixLimit`), after a 16-bit or a 32-bit tag. */
function writeSized(out: Buffer, at: number, n: number, fixTag: number, fixLimit: number, tag16: number, tag32: number): number {
  if (n < fixLimit) {
    out[at] = fixTag | n;
    return at + 1;
  }
  if (n < 0x10000) {
    out[at] = tag16;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  out[at] = tag32;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

export function writeArrayHeader(out: Buffer, at: number, n: number): number {
  return writeSized(out, at, n, 0x90, 16, 0xdc, 0xdd);
}

export function writeStringHeader(out: Buffer, at: number, length: number): number {
  return writeSized(out, at, length, 0xa0, 32, 0xda, 0xdb);
}

/** A positive whole number (fixint, uint 16, uint 32). */
export function writeCount(out: Buffer, at: number, n: number): number {
  return writeSized(out, at, n, 0x00, 128, 0xcd, 0xce);
}

/** The slot kind beyond the locator's (LOCATED_*): a value read as an object, kept as its text. */
const TEXT = 4;

/** Past this many entries, a table is emptied before the next batch (record keys of a big keyspace). */
const TABLE_LIMIT = 1 << 16;

export interface CounterOptions {
  /** Entries a table of record keys or dimension values keeps between batches (default 65,536). */
  tableLimit?: number;
}

/**
 * Values found by their bytes (a dimension's, or the record keys) and what the batch being counted
 * added to each: records, and the measures' sums.
 */
class Dimension {
  readonly table: BytesTable;
  n: Float64Array;
  seq: Int32Array;
  sums: Float64Array;
  summed: Uint8Array;
  countFields: string[] = [];
  sumFields: (readonly [string, string])[][] = [];
  touched: number[] = [];

  constructor(readonly name: string, private readonly measures: readonly string[], size = 64) {
    this.table = new BytesTable(size);
    this.n = new Float64Array(size);
    this.seq = new Int32Array(size);
    this.sums = new Float64Array(size * Math.max(1, measures.length));
    this.summed = new Uint8Array(size * Math.max(1, measures.length));
  }

  /** Value `e` first counted by batch `seq` of this counter. */
  enter(e: number, seq: number): void {
    if (e >= this.n.length) this.grow(e);
    if (this.seq[e] === seq) return;
    this.seq[e] = seq;
    this.n[e] = 0;
    const m = this.measures.length;
    if (m > 0) {
      this.sums.fill(0, e * m, e * m + m);
      this.summed.fill(0, e * m, e * m + m);
    }
    this.touched.push(e);
  }

  field(e: number): string {
    let f = this.countFields[e];
    if (f === undefined) {
      const prefix = `d${SEP}${this.name}${SEP}${this.table.text(e)}${SEP}`;
      f = `${prefix}count`;
      this.countFields[e] = f;
      this.sumFields[e] = this.measures.map((m) => sumFieldNames(prefix, m));
    }
    return f;
  }

  clear(): void {
    this.table.clear();
    this.seq.fill(0);
    this.countFields = [];
    this.sumFields = [];
  }

  private grow(e: number): void {
    const size = Math.max(this.n.length * 2, e + 1);
    const m = Math.max(1, this.measures.length);
    const n = new Float64Array(size);
    n.set(this.n);
    const seq = new Int32Array(size);
    seq.set(this.seq);
    const sums = new Float64Array(size * m);
    sums.set(this.sums);
    const summed = new Uint8Array(size * m);
    summed.set(this.summed);
    this.n = n;
    this.seq = seq;
    this.sums = sums;
    this.summed = summed;
  }
}

export class BatchCounter {
  /** The fields read, each once: slot k of a located record is fields[k]. */
  readonly fields: readonly string[];
  private readonly dimensionSlots: number[];
  private readonly measureSlots: number[];
  private readonly nullSlots: number[];
  private readonly nullFields: string[];
  private readonly sumFields: (readonly [string, string])[];
  private readonly dimensions: Dimension[];
  /** The record keys: counted as a dimension's values are, with no measures. */
  private readonly keys = new Dimension('', [], 1024);
  private seq = 0;
  /** Where a record's fields lie (kind, then two numbers, per slot), and texts of values read as objects. */
  private readonly out: Float64Array;
  private readonly texts: string[];
  private lastBucket = Number.NaN;
  private lastBucketField = '';

  private readonly tableLimit: number;

  constructor(private readonly spec: CountSpec, options: CounterOptions = {}) {
    this.tableLimit = options.tableLimit ?? TABLE_LIMIT;
    this.fields = [...new Set([...spec.dimensions, ...spec.measures, ...spec.nulls])];
    const slot = (f: string): number => this.fields.indexOf(f);
    this.dimensionSlots = spec.dimensions.map(slot);
    this.measureSlots = spec.measures.map(slot);
    this.nullSlots = spec.nulls.map(slot);
    this.nullFields = spec.nulls.map((f) => `n${SEP}${f}`);
    this.sumFields = spec.measures.map((m) => sumFieldNames('', m));
    this.dimensions = spec.dimensions.map((d) => new Dimension(d, spec.measures));
    this.out = new Float64Array(3 * this.fields.length);
    this.texts = this.fields.map(() => '');
  }

  /** The reader of records written with `writer` (a parsed schema). */
  reader(writer: avro.Type): SchemaReader {
    return { projection: projection(writer, this.fields), locate: compileFastLocate(writer, this.fields) };
  }

  /**
   * Counts `records` (of `topic` partition `partition`), every one's writer schema among `readers`
   * (by schema id). Synchronous: nothing else uses the counter while it runs.
   */
  count(records: Pick<RecordColumns, 'buffer' | 'index' | 'offsets' | 'timestamps'>, readers: ReadonlyMap<number, SchemaReader>, topic: string, partition: number): BatchCounts {
    const seq = ++this.seq;
    const { spec, out, dimensions } = this;
    // Tables grown past their limit start again (between batches: numbers stay valid within one).
    for (const d of [...dimensions, this.keys]) {
      // What a batch that failed part-way touched is not this one's.
      d.touched = [];
      if (d.table.size > this.tableLimit) d.clear();
    }
    const fields = new Map<string, number>();
    const add = (field: string, n: number): void => {
      fields.set(field, (fields.get(field) ?? 0) + n);
    };
    const measures = this.measureSlots.length;
    const nulls = this.nullSlots.map(() => 0);
    const sums = this.measureSlots.map(() => 0);
    const summed = this.measureSlots.map(() => false);
    const x = new Float64Array(Math.max(1, measures));
    const keys = this.keys;
    let total = 0;
    let bucketCount = 0;
    const { buffer, index, timestamps } = records;
    for (let n = 0; n < timestamps.length; n++) {
      const t = timestamps[n] as number | string;
      const ts = typeof t === 'number' ? t : Number(t);
      if (ts < spec.fromMs || ts >= spec.toMs) continue;
      const keyStart = index[n * 4] as number;
      const keyLength = index[n * 4 + 1] as number;
      const valueStart = index[n * 4 + 2] as number;
      const valueLength = index[n * 4 + 3] as number;
      try {
        // A value not in the wire format: decodeWireHeader throws, saying what is wrong with it.
        const id = wireSchemaIdAt(buffer, valueStart, valueLength) ?? decodeWireHeader(valueLength < 0 ? null : buffer.subarray(valueStart, valueStart + valueLength)).schemaId;
        const r = readers.get(id) as SchemaReader;
        const start = valueStart + WIRE_HEADER_BYTES;
        const end = valueStart + valueLength;
        if (r.locate === null || !r.locate(buffer, start, end, out)) this.place(r.projection.readAt(buffer, start, end));
      } catch (err) {
        const offset = offsetTextAt(records, n);
        throw new ReprocessError('DECODE_FAILED', `cannot decode ${topic} partition ${partition} offset ${offset}: ${errorMessage(err)}`, { cause: err, context: { topic, partition, offset } });
      }
      total++;
      const bucket = bucketOf(ts, spec.bucketMs);
      if (bucket !== this.lastBucket) {
        if (bucketCount > 0) add(this.lastBucketField, bucketCount);
        bucketCount = 0;
        this.lastBucket = bucket;
        this.lastBucketField = bucketField(bucket);
      }
      bucketCount++;
      for (let i = 0; i < nulls.length; i++) {
        if (out[3 * (this.nullSlots[i] as number)] === LOCATED_NULL) nulls[i] = (nulls[i] as number) + 1;
      }
      for (let i = 0; i < measures; i++) {
        const at = 3 * (this.measureSlots[i] as number);
        const m = out[at + 1] as number;
        x[i] = out[at] === LOCATED_NUMBER && Number.isFinite(m) ? Math.round(m * MICRO) : Number.NaN;
        if (!Number.isNaN(x[i])) {
          if (Math.abs(x[i] as number) > Number.MAX_SAFE_INTEGER) this.exact(x[i] as number, i, topic, partition);
          sums[i] = (sums[i] as number) + (x[i] as number);
          summed[i] = true;
        }
      }
      for (let di = 0; di < dimensions.length; di++) {
        const d = dimensions[di] as Dimension;
        const k = this.dimensionSlots[di] as number;
        const kind = out[3 * k];
        const e = kind === LOCATED_STRING ? d.table.find(buffer, out[3 * k + 1] as number, out[3 * k + 2] as number) : d.table.findText(this.textOf(k, kind as number));
        d.enter(e, seq);
        d.n[e] = (d.n[e] as number) + 1;
        for (let i = 0; i < measures; i++) {
          if (Number.isNaN(x[i])) continue;
          d.sums[e * measures + i] = (d.sums[e * measures + i] as number) + (x[i] as number);
          d.summed[e * measures + i] = 1;
        }
      }
      const key = keyLength < 0 ? keys.table.findText(NULL_DIMENSION_VALUE) : keys.table.find(buffer, keyStart, keyLength);
      keys.enter(key, seq);
      keys.n[key] = (keys.n[key] as number) + 1;
    }
    if (bucketCount > 0) add(this.lastBucketField, bucketCount);
    if (total > 0) add('count', total);
    for (let i = 0; i < nulls.length; i++) if ((nulls[i] as number) > 0) add(this.nullFields[i] as string, nulls[i] as number);
    const addSum = (names: readonly [string, string], micro: number): void => {
      const [units, rest] = sumParts(micro);
      add(names[0], units);
      add(names[1], rest);
    };
    for (let i = 0; i < measures; i++) if (summed[i]) addSum(this.sumFields[i] as readonly [string, string], this.exact(sums[i] as number, i, topic, partition));
    for (const d of dimensions) {
      for (const e of d.touched) {
        add(d.field(e), d.n[e] as number);
        const names = d.sumFields[e] as (readonly [string, string])[];
        for (let i = 0; i < measures; i++) if (d.summed[e * measures + i]) addSum(names[i] as readonly [string, string], this.exact(d.sums[e * measures + i] as number, i, topic, partition));
      }
      d.touched = [];
    }
    const keyCounts = this.packKeys();
    keys.touched = [];
    return { fields, keys: keyCounts, records: total };
  }

  /** The batch's record keys and counts, packed (BatchCounts.keys). */
  private packKeys(): Buffer {
    const { table, touched, n } = this.keys;
    if (touched.length === 0) return Buffer.allocUnsafeSlow(0);
    // A header of at most 5 bytes per string and per count, and for the array.
    let size = 5;
    for (const e of touched) size += table.utf8Length(e) + 10;
    const out = Buffer.allocUnsafeSlow(size);
    let at = writeArrayHeader(out, 0, 2 * touched.length);
    for (const e of touched) {
      at = writeStringHeader(out, at, table.utf8Length(e));
      at = table.writeUtf8(e, out, at);
      at = writeCount(out, at, n[e] as number);
    }
    return out.subarray(0, at);
  }

  /**
   * A sum in millionths, if it is exact: past 2^53 millionths (9,007,199,254.740991 units) a
   * double no longer holds every whole number, and the comparison would compare rounded sums.
   */
  private exact(sum: number, measure: number, topic: string, partition: number): number {
    if (Math.abs(sum) <= Number.MAX_SAFE_INTEGER) return sum;
    const name = this.spec.measures[measure] as string;
    throw new ReprocessError('SPEC_INVALID', `measure ${name} is too large to sum exactly: values in one batch of ${topic} partition ${partition} add up to ${(sum / MICRO).toExponential(3)}, past the ±9,007,199,254.74 the comparison adds exactly to a millionth.`, {
      hint: `Compare ${name} in a larger unit (a transform field in thousands, say), or leave it out of validate.measures.`,
      context: { topic, partition, measure: name },
    });
  }

  /** A record read as an object, into the slots as the locator would have placed it (values it cannot place as texts). */
  private place(value: Record<string, unknown>): void {
    const { out, texts } = this;
    for (let k = 0; k < this.fields.length; k++) {
      const v = value[this.fields[k] as string];
      if (v === null || v === undefined) {
        out[3 * k] = LOCATED_NULL;
      } else if (typeof v === 'number') {
        out[3 * k] = LOCATED_NUMBER;
        out[3 * k + 1] = v;
      } else if (typeof v === 'boolean') {
        out[3 * k] = LOCATED_BOOLEAN;
        out[3 * k + 1] = v ? 1 : 0;
      } else {
        out[3 * k] = TEXT;
        texts[k] = String(v);
      }
    }
  }

  /** The text of a dimension's value in slot `k` that is not located bytes (as String() gives it). */
  private textOf(k: number, kind: number): string {
    switch (kind) {
      case LOCATED_NULL:
        return NULL_DIMENSION_VALUE;
      case LOCATED_NUMBER:
        return String(this.out[3 * k + 1]);
      case LOCATED_BOOLEAN:
        return this.out[3 * k + 1] === 1 ? 'true' : 'false';
      default:
        return this.texts[k] as string;
    }
  }
}
