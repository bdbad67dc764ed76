import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { compileFastWrite, type FastWrite } from '../../src/replay/avro-write.js';
import { rng } from './helpers.js';

const SCHEMA = {
  type: 'record', name: 'Out', namespace: 'example.out',
  fields: [
    { name: 'user_id', type: 'string' },
    { name: 'n', type: 'int' },
    { name: 'id', type: ['long', 'string'] },
    { name: 'flag', type: 'boolean' },
    { name: 'country', type: ['null', 'string'], default: null },
    { name: 'revenue', type: ['null', 'double'], default: null },
    { name: 'ratio', type: 'float' },
    { name: 'raw', type: 'bytes' },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['VIEW', 'CLICK', 'PURCHASE'] } },
    { name: 'hash', type: { type: 'fixed', name: 'Hash', size: 4 } },
    { name: 'maybe_kind', type: ['null', 'Kind'] },
    { name: 'device', type: ['null', { type: 'record', name: 'Device', fields: [{ name: 'os', type: 'string' }, { name: 'version', type: 'long' }] }] },
    { name: 'nothing', type: 'null' },
    { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};

const ALPHABETS = ['abcXYZ019-:/ ', 'aé€ü', 'a\u{1F600}b', '\u0000\u007f\u0080\u07ff\u0800', '\ud800x\udc00'];

function randomString(next: () => number, n: number): string {
  const alphabet = [...(ALPHABETS[n % ALPHABETS.length] as string)];
  const length = Math.floor(next() * (n % 4 === 0 ? 150 : 70));
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)] as string;
  return s;
}

function randomLong(next: () => number): number {
  const scale = [1, 1e3, 2 ** 30, 2 ** 31, 2 ** 40, 2 ** 51][Math.floor(next() * 6)] as number;
  return Math.round((next() * 2 - 1) * scale) + 0;
}

function value(next: () => number, n: number): Record<string, unknown> {
  const maybe = <T>(v: T): T | null => (next() < 0.3 ? null : v);
  return {
    user_id: randomString(next, n),
    n: Math.round((next() * 2 - 1) * 2 ** 31) | 0,
    id: next() < 0.5 ? randomLong(next) : randomString(next, n + 1),
    flag: next() < 0.5,
    country: maybe(randomString(next, n + 2)),
    revenue: maybe((next() - 0.5) * 1e6),
    ratio: next(),
    raw: Buffer.from(randomString(next, n + 3)),
    kind: ['VIEW', 'CLICK', 'PURCHASE'][n % 3],
    hash: Buffer.from([n & 0xff, 1, 2, 0xff]),
    maybe_kind: maybe('PURCHASE'),
    device: maybe({ os: randomString(next, n + 4), version: randomLong(next) }),
    nothing: null,
    event_time: randomLong(next),
  };
}

describe('the faster Avro writer', () => {
  const type = avro.Type.forSchema(SCHEMA as avro.Schema, { wrapUnions: false });
  const write = compileFastWrite(type) as FastWrite;

  it('writes every value with the bytes avsc writes, at any position', () => {
    expect(write).not.toBeNull();
    const next = rng(9);
    for (let n = 0; n < 3000; n++) {
      const v = value(next, n);
      const expected = type.toBuffer(v);
      const at = n % 7;
      const buf = Buffer.alloc(at + expected.length + 16, 0xee);
      const end = write(v, buf, at);
      expect(end, `value ${n}`).toBe(at + expected.length);
      expect(buf.subarray(at, end).equals(expected), `value ${n}`).toBe(true);
      expect(buf[at - 1] ?? 0xee).toBe(0xee);
    }
  });

  it('tells ASCII from other strings of every length up to 70, wherever they end', () => {
    const schema = avro.Type.forSchema({ type: 'record', name: 'S', fields: [{ name: 's', type: 'string' }] }, { wrapUnions: false });
    const fast = compileFastWrite(schema) as FastWrite;
    for (let len = 0; len <= 70; len++) {
      for (const odd of ['', 'é', '€', '\u{1F600}', '\ud800']) {
        for (let at = 0; at <= len; at++) {
          const s = 'a'.repeat(at) + odd + 'b'.repeat(Math.max(0, len - at - odd.length));
          const expected = schema.toBuffer({ s });
          for (const room of [expected.length, expected.length + 3, expected.length + 10]) {
            const buf = Buffer.alloc(room);
            const end = fast({ s }, buf, 0);
            if (end >= 0) expect(buf.subarray(0, end).equals(expected), JSON.stringify(s)).toBe(true);
            else expect(room).toBeLessThan(expected.length + 5);
          }
        }
      }
    }
  });

  it('leaves to avsc values it would refuse, fields left to their defaults, and buffers too small', () => {
    const good = value(rng(4), 1);
    const bad: Record<string, Record<string, unknown>> = {
      'int with a fraction': { ...good, n: 1.5 },
      'int beyond 32 bits': { ...good, n: 2 ** 31 },
      'string as a number': { ...good, user_id: 5 },
      'long beyond 2^53': { ...good, event_time: 2 ** 60 },
      'long NaN': { ...good, event_time: NaN },
      'union of neither branch': { ...good, country: 7 },
      'unknown enum symbol': { ...good, kind: 'OTHER' },
      'fixed of another size': { ...good, hash: Buffer.alloc(3) },
      'boolean as a number': { ...good, flag: 1 },
      'nested record with a missing field': { ...good, device: { os: 'x' } },
      'field left undefined (default)': { ...good, country: undefined },
    };
    for (const [what, v] of Object.entries(bad)) expect(write(v, Buffer.alloc(4096), 0), what).toBe(-1);
    expect(write(null, Buffer.alloc(100), 0)).toBe(-1);
    const size = type.toBuffer(good).length;
    for (const room of [0, 1, size - 1]) expect(write(good, Buffer.alloc(room), 0), `room ${room}`).toBe(-1);
  });

  it('leaves to avsc the schemas it does not write: arrays, maps, recursion, non-records', () => {
    const compile = (schema: unknown): FastWrite | null => compileFastWrite(avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false }));
    expect(compile({ type: 'record', name: 'A', fields: [{ name: 'tags', type: { type: 'array', items: 'string' } }] })).toBeNull();
    expect(compile({ type: 'record', name: 'M', fields: [{ name: 'attrs', type: { type: 'map', values: 'string' } }] })).toBeNull();
    expect(compile({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] })).toBeNull();
    expect(compile('string')).toBeNull();
  });
});
