// The comparison's counting (src/compare/counter.ts) and its parts: the compiled field locator
// (avro-read.ts compileFastLocate) and the table of byte strings (bytes-table.ts). Counting by
// bytes must give exactly what counting decoded records as objects gives.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { BytesTable } from '../../src/compare/bytes-table.js';
import { NULL_DIMENSION_VALUE, bucketOf } from '../../src/compare/core/index.js';
import { BatchCounter, MICRO, SEP, bucketField, type BatchCounts, type CountSpec } from '../../src/compare/counter.js';
import { columnsOf } from '../../src/kafka/columns.js';
import type { ConsumedRecord } from '../../src/kafka/index.js';
import { LOCATED_BOOLEAN, LOCATED_NULL, LOCATED_NUMBER, LOCATED_STRING, compileFastLocate, type FastLocate } from '../../src/replay/avro-read.js';
import { WIDE, wideValue } from './avro-values.js';
import { ReprocessError, STRING_ALPHABETS, encodeWire, randomString, rng } from './helpers.js';

const wide = avro.Type.forSchema(WIDE as avro.Schema, { wrapUnions: false });

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

const EVENT = avro.Type.forSchema({
  type: 'record', name: 'Engagement', fields: [
    { name: 'user_id', type: 'string' },
    { name: 'country', type: ['null', 'string'] },
    { name: 'category', type: 'string' },
    { name: 'level', type: ['null', 'int', 'string', 'boolean'] },
    { name: 'revenue', type: ['null', 'double', 'string'] },
    { name: 'units', type: 'long' },
    { name: 'tag', type: { type: 'enum', name: 'Tag', symbols: ['A', 'B'] } },
  ],
} as avro.Schema, { wrapUnions: false });
/** The same events with a dimension the locator does not handle (an enum): read as objects. */
const ENUM_DIMENSION: CountSpec = { dimensions: ['country', 'tag'], measures: ['revenue'], nulls: ['country'], bucketMs: 3_600_000, fromMs: 1_000_000, toMs: 50_000_000 };
const SPEC: CountSpec = { dimensions: ['country', 'category', 'level'], measures: ['revenue', 'units'], nulls: ['country', 'level', 'missing'], bucketMs: 3_600_000, fromMs: 1_000_000, toMs: 50_000_000 };

/** The counting written plainly: every record decoded whole, values turned into texts with String(). */
function reference(spec: CountSpec, records: ConsumedRecord[]): { fields: Map<string, number>; keys: Map<string, number> } {
  const fields = new Map<string, number>();
  const keys = new Map<string, number>();
  const add = (m: Map<string, number>, f: string, n: number): void => void m.set(f, (m.get(f) ?? 0) + n);
  for (const r of records) {
    const ts = Number(r.timestamp);
    if (ts < spec.fromMs || ts >= spec.toMs) continue;
    const v = EVENT.fromBuffer((r.value as Buffer).subarray(5)) as Record<string, unknown>;
    add(fields, 'count', 1);
    add(fields, bucketField(bucketOf(ts, spec.bucketMs)), 1);
    for (const f of spec.nulls) if (v[f] === null || v[f] === undefined) add(fields, `n${SEP}${f}`, 1);
    const x = spec.measures.map((m) => (typeof v[m] === 'number' && Number.isFinite(v[m]) ? Math.round((v[m] as number) * MICRO) : null));
    spec.measures.forEach((m, i) => {
      if (x[i] !== null) add(fields, `s${SEP}${m}`, x[i] as number);
    });
    for (const d of spec.dimensions) {
      const raw = v[d];
      const dv = raw === null || raw === undefined ? NULL_DIMENSION_VALUE : String(raw);
      add(fields, `d${SEP}${d}${SEP}${dv}${SEP}count`, 1);
      spec.measures.forEach((m, i) => {
        if (x[i] !== null) add(fields, `d${SEP}${d}${SEP}${dv}${SEP}s${SEP}${m}`, x[i] as number);
      });
    }
    add(keys, r.key === null ? NULL_DIMENSION_VALUE : r.key.toString('utf8'), 1);
  }
  return { fields, keys };
}

/** Counts as sent to Redis, with record keys of the same text (bytes that are not UTF-8) added up, as HINCRBY does. */
function merged(c: BatchCounts): { fields: Map<string, number>; keys: Map<string, number> } {
  const keys = new Map<string, number>();
  for (let i = 0; i < c.keys.length; i += 2) keys.set(c.keys[i] as string, (keys.get(c.keys[i] as string) ?? 0) + (c.keys[i + 1] as number));
  return { fields: c.fields, keys };
}

function events(seed: number, count: number, keyspace: number): ConsumedRecord[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const users = Array.from({ length: keyspace }, (_, i) => (i % 97 === 5 ? `ü-${i}-é` : `user-${i}`));
  return Array.from({ length: count }, (_, n) => {
    const value = {
      user_id: pick(users),
      country: next() < 0.1 ? null : pick(['DE', 'US', 'Ísland', '日本', '', NULL_DIMENSION_VALUE]),
      category: pick(['books', 'games', 'a\u0000b', 'x'.repeat(300)]),
      level: pick([null, 1, -7, '1', 'gold', true, false]),
      revenue: pick([null, 0.1, 12.345678, -3.5, 1e300, Number.NaN, 'n/a']),
      units: pick([0, 1, 2 ** 40, -5]),
      tag: pick(['A', 'B']),
    };
    const key = next() < 0.02 ? null : next() < 0.01 ? Buffer.from([0x75, 0xff, n % 2 === 0 ? 0xfe : 0xfd]) : Buffer.from(value.user_id);
    // A few timestamps outside the window.
    const ts = next() < 0.03 ? 999_999 : 1_000_000 + Math.floor(next() * 40_000_000);
    return { offset: String(n), key, value: encodeWire(next() < 0.5 ? 41 : 42, EVENT.toBuffer(value)), timestamp: String(ts), headers: {} };
  });
}

describe('counting a batch', () => {
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
    let err: unknown;
    try {
      counter.count(columnsOf(broken), readers, 'events_v3', 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ReprocessError);
    expect((err as ReprocessError).code).toBe('DECODE_FAILED');
    expect((err as Error).message).toContain('events_v3 partition 2 offset 20');
    // What the failed batch had counted is not carried into the next one.
    const next = events(5, 30, 10);
    const got = merged(counter.count(columnsOf(next), readers, 'events_v3', 2));
    expect(new Map([...got.fields].sort())).toEqual(new Map([...reference(SPEC, next).fields].sort()));
  });
});
