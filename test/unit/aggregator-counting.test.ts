// The comparison's counting (src/compare/counter.ts) and its parts: the compiled field locator
// (avro-read.ts compileFastLocate) and the table of byte strings (bytes-table.ts). Counting by
// bytes must give exactly what counting decoded records as objects gives.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { BytesTable } from '../../src/compare/bytes-table.js';
import { BatchCounter, writeArrayHeader, writeCount, writeStringHeader } from '../../src/compare/counter.js';
import { packBatch, unpackBatch } from '../../src/compare/counting.js';
import type { ChunkRecords } from '../../src/replay/process.js';
import { columnsOf } from '../../src/kafka/columns.js';
import type { ConsumedRecord } from '../../src/kafka/index.js';
import { LOCATED_BOOLEAN, LOCATED_NULL, LOCATED_NUMBER, LOCATED_STRING, compileFastLocate, type FastLocate } from '../../src/replay/avro-read.js';
import { WIDE, wideValue } from './avro-values.js';
import { ENUM_DIMENSION, EVENT, SPEC, events, merged, reference, unpackKeys } from './counting-fixture.js';
import { ReprocessError, STRING_ALPHABETS, randomString, rng } from './helpers.js';

const wide = avro.Type.forSchema(WIDE as avro.Schema, { wrapUnions: false });

/** What `f` throws (undefined if it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('the field locator', () => {
  const fields = ['country', 'amount', 'flag', 'user_id', 'ratio', 'event_time', 'nothing', 'not_in_schema', 'schema_version'];
  const locate = compileFastLocate(wide, fields) as FastLocate;

  it('tells where each asked-for field lies, or what it is, as decoding the record gives it', () => {
    expect(locate).not.toBeNull();
    const next = rng(11);
    const out = new Float64Array(3 * fields.length);
    for (let n = 0; n < 3000; n++) {
      const value = wideValue(next, n);
      const body = wide.toBuffer(value);
      const before = Math.floor(next() * 9);
      const buf = Buffer.concat([Buffer.alloc(before, 0xc3), body, Buffer.alloc(5, 0x85)]);
      out.fill(7);
      expect(locate(buf, before, before + body.length, out), `value ${n}`).toBe(true);
      const decoded = wide.fromBuffer(body) as Record<string, unknown>;
      fields.forEach((f, k) => {
        const v = decoded[f];
        const kind = out[3 * k];
        if (v === null || v === undefined) expect(kind, `${f} of value ${n}`).toBe(LOCATED_NULL);
        else if (typeof v === 'string') {
          expect(kind, `${f} of value ${n}`).toBe(LOCATED_STRING);
          const at = out[3 * k + 1] as number;
          expect(buf.toString('utf8', at, at + (out[3 * k + 2] as number))).toBe(v);
        } else if (typeof v === 'number') {
          expect(kind, `${f} of value ${n}`).toBe(LOCATED_NUMBER);
          expect(out[3 * k + 1]).toBe(v);
        } else {
          expect(kind, `${f} of value ${n}`).toBe(LOCATED_BOOLEAN);
          expect(out[3 * k + 1]).toBe(v ? 1 : 0);
        }
      });
    }
  });

  it('answers false for a body it cannot read cleanly: truncated anywhere, trailing bytes, a bad union index', () => {
    const body = wide.toBuffer(wideValue(rng(5), 2));
    const out = new Float64Array(3 * fields.length);
    for (let cut = 0; cut < body.length; cut++) expect(locate(body, 0, cut, out), `cut at ${cut}`).toBe(false);
    expect(locate(Buffer.concat([body, Buffer.from([0])]), 0, body.length + 1, out)).toBe(false);
    const small = avro.Type.forSchema({ type: 'record', name: 'U', fields: [{ name: 'u', type: ['null', 'string'] }, { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B'] } }] }, { wrapUnions: false });
    const loc = compileFastLocate(small, ['u']) as FastLocate;
    expect(loc(Buffer.from([2, 2, 0x78, 2]), 0, 4, out)).toBe(true);
    expect(loc(Buffer.from([4, 2, 0x78, 2]), 0, 4, out), 'union index 2').toBe(false);
    expect(loc(Buffer.from([2, 2, 0x78, 4]), 0, 4, out), 'enum index 2 of a field stepped over').toBe(false);
  });

  it('is not made where an asked-for field is an enum, bytes, fixed or record, or the schema is not one the reader reads', () => {
    for (const f of ['kind', 'raw', 'hash', 'device', 'other_kind']) expect(compileFastLocate(wide, ['country', f]), f).toBeNull();
    const withMap = avro.Type.forSchema({ type: 'record', name: 'M', fields: [{ name: 'a', type: { type: 'map', values: 'string' } }, { name: 'b', type: 'string' }] }, { wrapUnions: false });
    expect(compileFastLocate(withMap, ['b'])).toBeNull();
  });
});

describe('the table of byte strings', () => {
  it('numbers equal bytes alike wherever they lie, different bytes differently, and gives back their text', () => {
    const next = rng(3);
    const t = new BytesTable(16);
    const texts = new Map<string, number>();
    for (let n = 0; n < 20_000; n++) {
      const text = randomString(next, Math.floor(next() * 40), STRING_ALPHABETS.slice(0, 3));
      const bytes = Buffer.from(text);
      const before = Math.floor(next() * 7);
      const buf = Buffer.concat([Buffer.alloc(before, 0x41), bytes, Buffer.alloc(3, 0x42)]);
      const e = t.find(buf, before, bytes.length);
      const seen = texts.get(text);
      if (seen === undefined) {
        expect(e, text).toBe(texts.size);
        texts.set(text, e);
      } else {
        expect(e, text).toBe(seen);
      }
      expect(t.findText(text)).toBe(e);
      expect(t.text(e)).toBe(text);
    }
    expect(t.size).toBe(texts.size);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.find(Buffer.from('again'), 0, 5)).toBe(0);
    expect(t.text(0)).toBe('again');
  });

  it('keeps bytes that are not UTF-8 apart, though they read as the same text', () => {
    const t = new BytesTable();
    const a = t.find(Buffer.from([0x61, 0xff]), 0, 2);
    const b = t.find(Buffer.from([0x61, 0xfe]), 0, 2);
    expect(a).not.toBe(b);
    expect(t.text(a)).toBe(t.text(b));
    expect(t.find(Buffer.alloc(0), 0, 0)).toBe(2);
  });
});

// ───────────────────────── counting ─────────────────────────

describe('counting a batch', () => {
  it('packs record keys and counts as MessagePack, every length and count in the smallest form that holds it', () => {
    const out = Buffer.alloc(80_000);
    for (const [key, count] of [['', 1], ['k'.repeat(31), 127], ['k'.repeat(32), 128], ['ü'.repeat(300), 65_535], ['x'.repeat(65_535), 65_536], ['y'.repeat(65_536), 2 ** 32 - 1]] as const) {
      let at = writeArrayHeader(out, 0, 2);
      at = writeStringHeader(out, at, Buffer.byteLength(key));
      at += out.write(key, at, 'utf8');
      at = writeCount(out, at, count);
      expect(unpackKeys(out.subarray(0, at))).toEqual([[key, count]]);
    }
    for (const n of [0, 15, 16, 65_535, 65_536]) {
      const end = writeArrayHeader(out, 0, n);
      expect(end).toBe(n < 16 ? 1 : n < 65_536 ? 3 : 5);
    }
  });

  for (const [name, spec, locating] of [['located', SPEC, true], ['read as objects (an enum dimension)', ENUM_DIMENSION, false]] as const) {
    it(`gives what counting decoded records gives, batch by batch: ${name}`, () => {
      const counter = new BatchCounter(spec);
      const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
      expect(readers.get(41)?.locate !== null).toBe(locating);
      const all = events(locating ? 1 : 2, 6000, 700);
      for (let from = 0; from < all.length; from += 1500) {
        const batch = all.slice(from, from + 1500);
        const got = merged(counter.count(columnsOf(batch), readers, 't', 0));
        const want = reference(spec, batch);
        expect(new Map([...got.fields].sort())).toEqual(new Map([...want.fields].sort()));
        expect(new Map([...got.keys].sort())).toEqual(new Map([...want.keys].sort()));
      }
    });
  }

  it('counts right across emptied tables: more record keys and dimension values than a table keeps', () => {
    const counter = new BatchCounter({ ...SPEC, dimensions: ['user_id'] }, { tableLimit: 100 });
    const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
    const all = events(9, 4000, 1000);
    for (let from = 0; from < all.length; from += 500) {
      const batch = all.slice(from, from + 500);
      const got = merged(counter.count(columnsOf(batch), readers, 't', 0));
      const want = reference({ ...SPEC, dimensions: ['user_id'] }, batch);
      expect(new Map([...got.fields].sort())).toEqual(new Map([...want.fields].sort()));
      expect(new Map([...got.keys].sort())).toEqual(new Map([...want.keys].sort()));
    }
  });

  it('a record that cannot be decoded fails the batch with its topic, partition and offset; the next batch counts alone', () => {
    const counter = new BatchCounter(SPEC);
    const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
    const batch = events(4, 50, 10);
    const broken = [...batch.slice(0, 20), { ...(batch[20] as ConsumedRecord), value: (batch[20]?.value as Buffer).subarray(0, 9) }, ...batch.slice(21)];
    const err = thrown(() => counter.count(columnsOf(broken), readers, 'events_v3', 2));
    expect(err).toBeInstanceOf(ReprocessError);
    expect((err as ReprocessError).code).toBe('DECODE_FAILED');
    expect((err as Error).message).toContain('events_v3 partition 2 offset 20');
    // What the failed batch had counted is not carried into the next one.
    const next = events(5, 30, 10);
    const got = merged(counter.count(columnsOf(next), readers, 'events_v3', 2));
    expect(new Map([...got.fields].sort())).toEqual(new Map([...reference(SPEC, next).fields].sort()));
  });
});

describe('a measure too large to sum exactly', () => {
  it('fails its batch naming the measure, whether one value or their sum passes 2^53 millionths; the next batch counts', () => {
    const counter = new BatchCounter(SPEC);
    const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
    const batch = events(7, 60, 10);
    const withUnits = (units: number) => (r: ConsumedRecord): ConsumedRecord => {
      const v = EVENT.fromBuffer((r.value as Buffer).subarray(5)) as Record<string, unknown>;
      return { ...r, timestamp: '2000000', value: Buffer.concat([(r.value as Buffer).subarray(0, 5), EVENT.toBuffer({ ...v, units })]) };
    };
    const one = [...batch.slice(0, 30), withUnits(2 ** 40)(batch[30] as ConsumedRecord), ...batch.slice(31)];
    // Each value exact, their sum not: 1,000 × 10^9 units.
    const many = Array.from({ length: 1000 }, (_, n) => withUnits(1e9)({ ...(batch[n % 60] as ConsumedRecord), offset: String(n) }));
    for (const records of [one, many]) {
      const err = thrown(() => counter.count(columnsOf(records), readers, 'events_v3', 4));
      expect(err).toBeInstanceOf(ReprocessError);
      expect((err as ReprocessError).code).toBe('SPEC_INVALID');
      expect((err as Error).message).toContain('measure units is too large to sum exactly');
      expect((err as Error).message).toContain('events_v3 partition 4');
      expect((err as ReprocessError).hint).toContain('validate.measures');
    }
    expect(merged(counter.count(columnsOf(batch), readers, 't', 0))).toEqual(merged(new BatchCounter(SPEC).count(columnsOf(batch), new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]), 't', 0)));
  });
});

describe('a batch lent to a counting thread', () => {
  /** Each record as the counter reads it: key and value bytes (null where absent), offset and timestamp. */
  const rows = (c: ChunkRecords): unknown[] =>
    Array.from({ length: c.offsets.length }, (_, n) => {
      const at = (k: number): string | null => ((c.index[4 * n + k + 1] as number) < 0 ? null : c.buffer.toString('hex', c.index[4 * n + k] as number, (c.index[4 * n + k] as number) + (c.index[4 * n + k + 1] as number)));
      return [at(0), at(2), String(c.offsets[n]), String(c.timestamps[n])];
    });
  /** Memory larger than asked for, full of other bytes (as spare memory from an earlier batch is). */
  const take = (size: number): ArrayBuffer => new Uint8Array(size + 100).fill(0xee).buffer;

  it('is read back as the records it holds: as one stretch, copied one by one, with offsets as text', () => {
    const records = events(3, 40, 10);
    const stretch = columnsOf(records);
    // Records far apart in their buffer (as in a fetch response with other partitions' batches between).
    const far = Buffer.alloc(9_000 * stretch.index.length + 1_000, 0x55);
    const index = new Int32Array(stretch.index.length);
    for (let i = 0; i < index.length; i += 2) {
      const length = stretch.index[i + 1] as number;
      index[i] = length < 0 ? 0 : 9_000 * i + 7;
      index[i + 1] = length;
      if (length > 0) stretch.buffer.copy(far, index[i], stretch.index[i], (stretch.index[i] as number) + length);
    }
    const spread: ChunkRecords = { buffer: far, index, offsets: stretch.offsets, timestamps: stretch.timestamps };
    const texts = columnsOf([{ offset: '9007199254740993', timestamp: '1700000000000', key: null, value: Buffer.from('v'), headers: {} }, { offset: '9007199254740994', timestamp: '5', key: Buffer.alloc(0), value: null, headers: {} }]);
    for (const c of [stretch, spread, texts]) {
      const packed = packBatch(c, take);
      expect(rows(unpackBatch(packed))).toEqual(rows(c));
    }
    expect(packBatch(spread, take).memory.byteLength).toBeLessThan(40_000);
    expect(packBatch(texts, take).offsets).toEqual(['9007199254740993', '9007199254740994']);
  });

  it('is counted as the records it came from are', () => {
    const counter = new BatchCounter(SPEC);
    const readers = new Map([[41, counter.reader(EVENT)], [42, counter.reader(EVENT)]]);
    const batch = events(6, 800, 60);
    expect(merged(counter.count(unpackBatch(packBatch(columnsOf(batch), take)), readers, 't', 0))).toEqual(merged(counter.count(columnsOf(batch), readers, 't', 0)));
  });
});
