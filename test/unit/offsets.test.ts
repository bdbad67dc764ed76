import { describe, expect, it } from 'vitest';
import { addOffset, compareOffsets, isOffset, maxOffset, minOffset, offsetDistance, toOffset } from './helpers.js';
import { columnsOf, columnsWithin, offsetTextAt, type RecordColumns } from '../../src/kafka/columns.js';

describe('offsets as decimal strings', () => {
  it('compares numerically beyond 2^53, not lexically', () => {
    expect(compareOffsets('9', '10')).toBe(-1);
    expect(compareOffsets('9007199254740993', '9007199254740992')).toBe(1);
    expect(compareOffsets('5', '5')).toBe(0);
    expect(minOffset('10', '9')).toBe('9');
    expect(maxOffset('10', '9')).toBe('10');
  });

  it('normalises numbers, bigints and strings to canonical form', () => {
    expect(toOffset(120)).toBe('120');
    expect(toOffset(120n)).toBe('120');
    expect(toOffset(' 007 ')).toBe('7');
    expect(toOffset('9223372036854775807')).toBe('9223372036854775807');
    for (const bad of [-1, 1.5, '9223372036854775808', '-3', 'x', 2 ** 60, null]) expect(toOffset(bad)).toBeNull();
  });

  it('recognises only canonical offsets', () => {
    expect(isOffset('0')).toBe(true);
    expect(isOffset('012')).toBe(false);
    expect(isOffset(12)).toBe(false);
  });

  it('does arithmetic exactly', () => {
    expect(offsetDistance('100', '250')).toBe(150);
    expect(addOffset('9007199254740992', 1)).toBe('9007199254740993');
  });
});

describe('columnsWithin', () => {
  const cols = (...offsets: (number | string)[]) => columnsOf(offsets.map((o) => ({ offset: String(o), timestamp: '1', key: null, value: Buffer.from([Number(String(o).slice(-2))]), headers: {} })));
  const offsetsOf = (c: RecordColumns) => Array.from({ length: c.length }, (_, n) => offsetTextAt(c, n));
  it('keeps the records in [from, end) of an ascending batch', () => {
    expect(offsetsOf(columnsWithin(cols(3, 4, 5, 6, 7), 4n, 7n))).toEqual(['4', '5', '6']);
    expect(columnsWithin(cols(3, 4, 5, 6, 7), 4n, 7n).record(0).value).toEqual(Buffer.from([4]));
    expect(columnsWithin(cols(3, 4), 10n, 20n).length).toBe(0);
    expect(columnsWithin(cols(), 0n, 1n).length).toBe(0);
  });
  it('returns the batch itself when every record is inside', () => {
    const all = cols(1, 2, 3);
    expect(columnsWithin(all, 0n, 4n)).toBe(all);
  });
  it('compares offsets beyond 2^53 exactly', () => {
    const big = cols('9007199254740993', '9007199254740994', '9007199254740995');
    expect(big.offsets).toBeInstanceOf(Array);
    expect(offsetsOf(columnsWithin(big, 9007199254740994n, 9007199254740995n))).toEqual(['9007199254740994']);
    expect(offsetsOf(columnsWithin(cols(1, 2, 3), 2n, 2n ** 60n))).toEqual(['2', '3']);
  });
});
