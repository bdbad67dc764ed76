/**
 * Records as columns: a batch's keys and values where they lie in one buffer, and per record four
 * int32 (key start, key length or -1 for null, value start, value length or -1) plus its offset and
 * timestamp. A replay's Kafka thread windows, chunks, counts and copies records in this form with
 * no object per record (kafkajs-records.ts reads fetched batches into it); the one record a DLQ
 * needs is made on demand (`record`).
 */
import type { ConsumedRecord } from './types.js';

export interface RecordColumns {
  /** Where every key and value of these records lies. */
  readonly buffer: Buffer;
  /** Four per record: key start, key length (-1: null), value start, value length (-1: null). */
  readonly index: Int32Array;
  /** Offsets and timestamps (epoch ms) as numbers, or as the client's decimal text where a number cannot hold every one exactly. */
  readonly offsets: Float64Array | string[];
  readonly timestamps: Float64Array | string[];
  readonly length: number;
  /** Record `n` (0 ≤ n < length) with every field: headers too. */
  record(n: number): ConsumedRecord;
  /** Records [from, to), sharing this one's buffer. */
  slice(from: number, to: number): RecordColumns;
}

const size = (b: Buffer | null): number => (b === null ? 0 : b.length);

/** Entries [from, to): a view of numbers, a copy of texts. */
function part(a: Float64Array | string[], from: number, to: number): Float64Array | string[] {
  return a instanceof Float64Array ? a.subarray(from, to) : a.slice(from, to);
}

/** True when `n` is the whole number `text` says, exactly. */
const exact = (n: number, text: string): boolean => Number.isSafeInteger(n) && String(n) === text;

/** Columns over records the client made as objects: their keys and values copied into one buffer. */
class CopiedColumns implements RecordColumns {
  constructor(
    readonly buffer: Buffer,
    readonly index: Int32Array,
    readonly offsets: Float64Array | string[],
    readonly timestamps: Float64Array | string[],
    private readonly records: readonly ConsumedRecord[],
  ) {}

  get length(): number {
    return this.offsets.length;
  }

  record(n: number): ConsumedRecord {
    const r = this.records[n];
    if (r === undefined) throw new RangeError(`record ${n} of ${this.length}`);
    return r;
  }

  slice(from: number, to: number): RecordColumns {
    return new CopiedColumns(this.buffer, this.index.subarray(from * 4, to * 4), part(this.offsets, from, to), part(this.timestamps, from, to), this.records.slice(from, to));
  }
}

/** Columns for records given as objects (a client that does not read in place): one copy of their keys and values. */
export function columnsOf(records: readonly ConsumedRecord[]): RecordColumns {
  let total = 0;
  for (const r of records) total += size(r.key) + size(r.value);
  const buffer = Buffer.allocUnsafe(total);
  const index = new Int32Array(records.length * 4);
  const offsets = new Float64Array(records.length);
  const timestamps = new Float64Array(records.length);
  let numbers = true;
  let at = 0;
  const put = (b: Buffer | null, i: number): void => {
    index[i] = at;
    if (b === null) {
      index[i + 1] = -1;
      return;
    }
    b.copy(buffer, at);
    index[i + 1] = b.length;
    at += b.length;
  };
  for (let n = 0; n < records.length; n++) {
    const r = records[n] as ConsumedRecord;
    put(r.key, n * 4);
    put(r.value, n * 4 + 2);
    if (numbers) {
      const o = Number(r.offset);
      const t = Number(r.timestamp);
      numbers = exact(o, r.offset) && exact(t, r.timestamp);
      offsets[n] = o;
      timestamps[n] = t;
    }
  }
  if (numbers) return new CopiedColumns(buffer, index, offsets, timestamps, records);
  return new CopiedColumns(buffer, index, records.map((r) => r.offset), records.map((r) => r.timestamp), records);
}

/** Record n's offset. */
export function offsetAt(c: Pick<RecordColumns, 'offsets'>, n: number): bigint {
  const o = c.offsets[n];
  if (o === undefined) throw new RangeError(`record ${n} of ${c.offsets.length}`);
  return BigInt(o);
}

/** Record n's offset as text (as a ConsumedRecord has it). */
export function offsetTextAt(c: Pick<RecordColumns, 'offsets'>, n: number): string {
  return String(c.offsets[n]);
}

/**
 * The records with offsets in [from, end), given records in offset order: those before `from`
 * (fetched from before the window) and from `end` on (appended after planning) are cut off.
 * The columns themselves when nothing is cut.
 */
export function columnsWithin(c: RecordColumns, from: bigint, end: bigint): RecordColumns {
  let lo = 0;
  let hi = c.length;
  const offsets = c.offsets;
  if (offsets instanceof Float64Array && from <= BigInt(Number.MAX_SAFE_INTEGER) && end <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const f = Number(from);
    const e = Number(end);
    while (lo < hi && (offsets[lo] as number) < f) lo++;
    while (hi > lo && (offsets[hi - 1] as number) >= e) hi--;
  } else {
    while (lo < hi && offsetAt(c, lo) < from) lo++;
    while (hi > lo && offsetAt(c, hi - 1) >= end) hi--;
  }
  return lo === 0 && hi === c.length ? c : c.slice(lo, hi);
}
