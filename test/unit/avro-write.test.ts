import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { compileFastWrite, type FastWrite } from '../../src/replay/avro-write.js';
import { WIDE, wideValue } from './avro-values.js';
import { rng } from './helpers.js';

describe('the faster Avro writer', () => {
  const type = avro.Type.forSchema(WIDE as avro.Schema, { wrapUnions: false });
  const write = compileFastWrite(type) as FastWrite;

  it('writes every value with the bytes avsc writes, at any position', () => {
    expect(write).not.toBeNull();
    const next = rng(9);
    for (let n = 0; n < 3000; n++) {
      const v = wideValue(next, n);
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
    const good = wideValue(rng(4), 1);
    const bad: Record<string, Record<string, unknown>> = {
      'int with a fraction': { ...good, schema_version: 1.5 },
      'int beyond 32 bits': { ...good, schema_version: 2 ** 31 },
      'string as a number': { ...good, event_id: 5 },
      'union of neither branch (a boolean for long or string)': { ...good, user_id: true },
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
