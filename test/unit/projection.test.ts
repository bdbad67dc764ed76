import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { projection } from '../../src/compare/projection.js';

// Fields of every kind the skipping has to step over: strings, unions, enums, fixed, nested
// records, arrays and maps, around the ones the comparison reads.
const WRITER = avro.Type.forSchema({
  type: 'record', name: 'Engagement', namespace: 'example', fields: [
    { name: 'event_id', type: 'string' },
    { name: 'country', type: ['null', 'string'] },
    { name: 'attrs', type: { type: 'map', values: ['null', 'string', 'long'] } },
    { name: 'segment', type: { type: 'enum', name: 'Segment', symbols: ['FREE', 'PRO', 'ENTERPRISE'] } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'revenue_usd', type: ['null', 'double'] },
    { name: 'device', type: { type: 'record', name: 'Device', fields: [{ name: 'os', type: 'string' }, { name: 'ver', type: 'int' }] } },
    { name: 'hash', type: { type: 'fixed', name: 'Hash', size: 4 } },
    { name: 'ts', type: 'long' },
    { name: 'product_category', type: 'string' },
  ],
} as avro.Schema, { wrapUnions: false });

function randomRecord(i: number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[i % xs.length] as T;
  return {
    event_id: `e-${i}-${'x'.repeat(i % 40)}`,
    country: i % 7 === 0 ? null : pick(['DE', 'US', 'Ísland', '日本']),
    attrs: Object.fromEntries(Array.from({ length: i % 4 }, (_, k) => [`k${k}`, k % 3 === 0 ? null : k % 3 === 1 ? `v${i}` : i * 1000 + k])),
    segment: pick(['FREE', 'PRO', 'ENTERPRISE']),
    tags: Array.from({ length: i % 5 }, (_, k) => `t${k}`),
    revenue_usd: i % 5 === 0 ? null : i * 0.37,
    device: { os: pick(['ios', 'android']), ver: i % 17 },
    hash: Buffer.from([i & 0xff, 1, 2, 3]),
    ts: 1_700_000_000_000 + i,
    product_category: pick(['books', 'games', '']),
  };
}

describe('projection', () => {
  it('reads exactly what decoding the whole record gives for its fields', () => {
    const fields = ['country', 'segment', 'revenue_usd', 'product_category'];
    const p = projection(WRITER, fields);
    expect(p.projected).toBe(true);
    for (let i = 0; i < 2_000; i++) {
      const body = WRITER.toBuffer(randomRecord(i));
      const whole = WRITER.fromBuffer(body) as Record<string, unknown>;
      const got = p.read(body);
      expect(Object.keys(got).sort()).toEqual([...fields].sort());
      for (const f of fields) expect(got[f]).toEqual(whole[f]);
    }
  });

  it('leaves out fields the writer does not have, as decoding the whole record would', () => {
    const p = projection(WRITER, ['country', 'no_such_field']);
    expect(p.fields).toEqual(['country']);
    const got = p.read(WRITER.toBuffer(randomRecord(3)));
    expect(got.no_such_field).toBeUndefined();
    expect(got.country).toBe('日本');
  });

  it('decodes whole records where a field names a type that a skipped field defines', () => {
    const writer = avro.Type.forSchema({
      type: 'record', name: 'R', fields: [
        { name: 'first', type: { type: 'enum', name: 'Colour', symbols: ['RED', 'BLUE'] } },
        { name: 'second', type: 'Colour' },
      ],
    } as avro.Schema, { wrapUnions: false });
    const p = projection(writer, ['second']);
    expect(p.projected).toBe(false);
    expect(p.read(writer.toBuffer({ first: 'RED', second: 'BLUE' })).second).toBe('BLUE');
  });

  it('refuses a body that is not one whole record, like decoding it whole does', () => {
    const p = projection(WRITER, ['country']);
    const body = WRITER.toBuffer(randomRecord(1));
    expect(() => p.read(body.subarray(0, body.length - 3))).toThrow();
    expect(() => WRITER.fromBuffer(body.subarray(0, body.length - 3))).toThrow();
  });

  it('reads records of a schema without arrays or maps with the compiled reader, as avsc reads them, wherever they lie', () => {
    const writer = avro.Type.forSchema({
      type: 'record', name: 'Out', fields: [
        { name: 'user_id', type: 'string' },
        { name: 'country', type: ['null', 'string'] },
        { name: 'segment', type: { type: 'enum', name: 'Segment', symbols: ['FREE', 'PRO'] } },
        { name: 'device', type: ['null', { type: 'record', name: 'Device', fields: [{ name: 'os', type: 'string' }] }] },
        { name: 'hash', type: { type: 'fixed', name: 'Hash', size: 2 } },
        { name: 'raw', type: 'bytes' },
        { name: 'revenue_usd', type: ['null', 'double'] },
        { name: 'product_category', type: 'string' },
      ],
    } as avro.Schema, { wrapUnions: false });
    const fields = ['country', 'revenue_usd', 'product_category', 'segment'];
    const p = projection(writer, fields);
    expect(p.projected).toBe(true);
    expect(p.compiled).toBe(true);
    const avscReader = avro.Type.forSchema({ ...(writer.schema() as object), fields: (writer.schema() as { fields: { name: string }[] }).fields.filter((f) => fields.includes(f.name)) } as avro.Schema, { wrapUnions: false });
    const resolver = avscReader.createResolver(writer);
    for (let i = 0; i < 2_000; i++) {
      const record = {
        user_id: `u-${i}-${'é'.repeat(i % 3)}`, country: i % 7 === 0 ? null : ['DE', 'Ísland', '日本'][i % 3], segment: i % 2 ? 'PRO' : 'FREE',
        device: i % 3 ? null : { os: 'ios' }, hash: Buffer.from([i & 0xff, 7]), raw: Buffer.from(`r${i}`), revenue_usd: i % 5 ? i * 0.37 : null, product_category: ['books', '', 'spiel'][i % 3],
      };
      const body = writer.toBuffer(record);
      const buf = Buffer.concat([Buffer.alloc(i % 5, 0x80), body, Buffer.alloc(3, 0x81)]);
      const got = p.readAt(buf, i % 5, (i % 5) + body.length);
      expect(Object.keys(got)).toEqual(['country', 'segment', 'revenue_usd', 'product_category']);
      expect({ ...got }).toEqual({ ...(avscReader.fromBuffer(body, resolver) as object) });
    }
    const body = writer.toBuffer({ user_id: 'u', country: 'DE', segment: 'PRO', device: null, hash: Buffer.alloc(2), raw: Buffer.alloc(0), revenue_usd: 1.5, product_category: 'books' });
    expect(() => p.readAt(body, 0, body.length - 3)).toThrow();
    expect(() => p.read(Buffer.concat([body, Buffer.from([0])]))).toThrow();
  });
});
