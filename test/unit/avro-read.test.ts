import { isDeepStrictEqual } from 'node:util';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { compileFastRead, type FastRead } from '../../src/replay/avro-read.js';
import { WIDE, wideValue } from './avro-values.js';
import { STRING_ALPHABETS, rng } from './helpers.js';

/** avsc's reading of `buf[start, end)`, as the decoder used it before: undefined unless it ends exactly at `end`. */
function avscRead(type: avro.Type, buf: Buffer, start: number, end: number): unknown {
  try {
    const r = type.decode(buf, start);
    return r.offset === end ? r.value : undefined;
  } catch {
    return undefined;
  }
}

/** avsc's records are instances of a class per record type; compare their fields as plain data. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

describe('the faster Avro reader', () => {
  const type = avro.Type.forSchema(WIDE as avro.Schema, { wrapUnions: false });
  const read = compileFastRead(type) as FastRead;

  it('reads every value as avsc does, wherever it lies in a buffer', () => {
    expect(read).not.toBeNull();
    const next = rng(7);
    // Every alphabet, lone surrogates included (which avsc writes as they are and UTF-8 reads back
    // as U+FFFD); then only well-formed strings, which must also read back as written.
    const wellFormed = STRING_ALPHABETS.filter((a) => Buffer.from(a, 'utf8').toString('utf8') === a);
    for (let n = 0; n < 4000; n++) {
      const roundTrip = n >= 2000;
      const value = wideValue(next, n, roundTrip ? wellFormed : STRING_ALPHABETS);
      const body = type.toBuffer(value);
      // Between other bytes, as a value lies in a chunk.
      const before = Math.floor(next() * 9);
      const buf = Buffer.concat([Buffer.alloc(before, 0xc3), body, Buffer.alloc(7, 0x85)]);
      const got = read(buf, before, before + body.length);
      expect(plain(got), `value ${n}`).toEqual(plain(avscRead(type, buf, before, before + body.length)));
      if (roundTrip) expect(isDeepStrictEqual(plain(got), plain(value)), `value ${n}`).toBe(true);
    }
  });

  it('gives plain objects with the fields in schema order', () => {
    const value = wideValue(rng(3), 1);
    const got = read(type.toBuffer(value), 0, type.toBuffer(value).length) as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got)).toEqual(WIDE.fields.map((f) => f.name));
  });

  it('finds a non-ASCII character at any place in a string, however the string lies against 4-byte boundaries', () => {
    // Strings are checked four bytes at a time between boundaries of the buffer's memory: every
    // length up to 40, one 'é' at every place, at eight starts in a buffer that itself starts at
    // three different offsets of its memory.
    const schema = avro.Type.forSchema({ type: 'record', name: 'S', fields: [{ name: 'a', type: 'string' }] }, { wrapUnions: false });
    const fast = compileFastRead(schema) as FastRead;
    const memory = Buffer.alloc(256);
    for (const offset of [0, 1, 3]) {
      for (let len = 0; len <= 40; len++) {
        for (let at = -1; at < len; at++) {
          const text = Array.from({ length: len }, (_, i) => (i === at ? 'é' : String.fromCharCode(97 + (i % 26)))).join('');
          const body = schema.toBuffer({ a: text });
          for (let start = 0; start < 8; start++) {
            const buf = memory.subarray(offset, offset + start + body.length + 5);
            buf.fill(0x41);
            body.copy(buf, start);
            expect((fast(buf, start, start + body.length) as { a: string }).a, `offset ${offset} length ${len} é at ${at} start ${start}`).toBe(text);
          }
        }
      }
    }
  });

  it('reads strings that are not valid UTF-8 as avsc does (replacement characters)', () => {
    const schema = avro.Type.forSchema({ type: 'record', name: 'S', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: 'string' }] }, { wrapUnions: false });
    const fast = compileFastRead(schema) as FastRead;
    const cases = [[0xff], [0xc3], [0xe2, 0x82], [0x80, 0x41], [0xed, 0xa0, 0x80], [0x41, 0xf0, 0x9f, 0x98]];
    for (const bytes of cases) {
      const body = Buffer.from([bytes.length * 2, ...bytes, 2, 0x42]);
      const got = fast(body, 0, body.length);
      expect(got).toEqual(plain(avscRead(schema, body, 0, body.length)));
      expect((got as { a: string }).a).toContain('\ufffd');
    }
  });

  it('leaves to avsc every body it cannot read cleanly', () => {
    const value = wideValue(rng(5), 2);
    const body = type.toBuffer(value);
    // Truncated anywhere, or followed by bytes that are not part of it.
    for (let cut = 0; cut < body.length; cut++) expect(read(body, 0, cut), `cut at ${cut}`).toBeUndefined();
    expect(read(Buffer.concat([body, Buffer.from([0])]), 0, body.length + 1)).toBeUndefined();

    const small = avro.Type.forSchema({
      type: 'record', name: 'U', fields: [
        { name: 'u', type: ['null', 'string'] },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B'] } },
        { name: 'l', type: 'long' },
        { name: 's', type: 'string' },
      ],
    }, { wrapUnions: false });
    const fast = compileFastRead(small) as FastRead;
    const ok = Buffer.from([2, 2, 0x78, 2, 4, 2, 0x61]); // u: 'x', e: 'B', l: 2, s: 'a'
    expect(fast(ok, 0, ok.length)).toEqual({ u: 'x', e: 'B', l: 2, s: 'a' });
    const bad = {
      'union index 2': Buffer.from([4, 2, 0x78, 2, 4, 2, 0x61]),
      'union index -1': Buffer.from([1, 2, 4, 2, 0x61]),
      'enum index 2': Buffer.from([0, 4, 4, 2, 0x61]),
      'negative string length': Buffer.from([0, 0, 4, 3, 0x61]),
      // 2^60 as a zigzag varint: beyond what a double holds exactly (avsc: "potential precision loss").
      'long beyond 2^53': Buffer.from([0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 2, 0x61]),
    };
    for (const [what, buf] of Object.entries(bad)) {
      expect(fast(buf, 0, buf.length), what).toBeUndefined();
      expect(() => {
        const r = small.decode(buf, 0);
        if (r.offset !== buf.length) throw new Error('not read whole');
      }, what).toThrow();
    }
  });

  it('reads the longest longs avsc reads, and the same numbers', () => {
    const schema = avro.Type.forSchema({ type: 'record', name: 'L', fields: [{ name: 'l', type: 'long' }, { name: 'i', type: 'int' }] }, { wrapUnions: false });
    const fast = compileFastRead(schema) as FastRead;
    for (const l of [0, -1, 1, 63, -64, 64, 2 ** 27, -(2 ** 28), 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 2, -(2 ** 53) + 2, 1_733_000_000_000, 9007199254740990, -9007199254740990]) {
      for (const i of [0, -1, 2 ** 31 - 1, -(2 ** 31)]) {
        const body = schema.toBuffer({ l, i });
        expect(fast(body, 0, body.length), `${l}, ${i}`).toEqual(plain(avscRead(schema, body, 0, body.length)));
      }
    }
  });

  it('leaves to avsc the schemas it does not read: arrays, maps, recursion, fields named __proto__, non-records', () => {
    const compile = (schema: unknown): FastRead | null => compileFastRead(avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false }));
    expect(compile({ type: 'record', name: 'A', fields: [{ name: 'tags', type: { type: 'array', items: 'string' } }] })).toBeNull();
    expect(compile({ type: 'record', name: 'M', fields: [{ name: 'attrs', type: { type: 'map', values: 'string' } }] })).toBeNull();
    expect(compile({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] })).toBeNull();
    expect(compile({ type: 'record', name: 'P', fields: [{ name: '__proto__', type: 'string' }] })).toBeNull();
    expect(compile('string')).toBeNull();
    expect(compile({ type: 'record', name: 'Ok', fields: [{ name: 'a', type: 'string' }] })).not.toBeNull();
  });
});
