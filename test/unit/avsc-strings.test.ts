import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { installAvscStrings } from '../../src/replay/avsc-strings.js';
import { rng } from './helpers.js';

/** An Avro string as the spec writes it: the zigzag varint of its UTF-8 byte count, then the bytes. */
function reference(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const head: number[] = [];
  let v = bytes.length * 2;
  while (v >= 128) {
    head.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  head.push(v);
  return Buffer.concat([Buffer.from(head), bytes]);
}

describe('avsc string writer', () => {
  it('is installed, and writes every string exactly as the Avro spec does', () => {
    expect(installAvscStrings()).toBe(true);
    const type = avro.Type.forSchema('string');
    const next = rng(11);
    const alphabets = ['abcXYZ019-:/ ', 'aé€ü', 'a\u{1F600}b', '\u0000\u007f\u0080\u07ff\u0800'];
    for (let n = 0; n < 3000; n++) {
      const alphabet = [...(alphabets[n % alphabets.length] as string)];
      const length = Math.floor(next() * (n % 3 === 0 ? 200 : 70));
      let s = '';
      for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)] as string;
      expect(type.toBuffer(s).equals(reference(s)), JSON.stringify(s)).toBe(true);
    }
  });

  it('tells a buffer too small for a string by how much, as avsc does', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: 'string' }] });
    const value = { a: 'abcdefgh', b: 'x'.repeat(40) };
    const needed = reference(value.a).length + reference(value.b).length;
    for (let size = 0; size < needed; size++) expect(type.encode(value, Buffer.alloc(size), 0)).toBe(size - needed);
    const buf = Buffer.alloc(needed);
    expect(type.encode(value, buf, 0)).toBe(needed);
    expect(type.fromBuffer(buf)).toEqual(value);
  });
});
