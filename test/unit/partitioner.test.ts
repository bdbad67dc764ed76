import { describe, expect, it } from 'vitest';
import { catchError, murmur2, partitionForKey, toPositive } from './helpers.js';

describe('murmur2 (Kafka Utils.murmur2)', () => {
  // The vectors of Kafka's UtilsTest.testMurmur2.
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  it.each(vectors)('murmur2(%j) = %d', (text, hash) => {
    expect(murmur2(Buffer.from(text, 'utf8'))).toBe(hash);
    // The same hash from the front of a larger buffer (a scratch buffer the key was written into).
    const scratch = Buffer.alloc(100, 0x5a);
    scratch.write(text, 0, 'utf8');
    expect(murmur2(scratch, text.length)).toBe(hash);
    expect(partitionForKey(scratch, 7, text.length)).toBe(partitionForKey(Buffer.from(text), 7));
  });

  // Bytes ≥ 0x80 and every tail length: where ports get sign extension or the fall-through wrong.
  // Computed by running the Java source of Utils.murmur2 on a JVM.
  const jvm: Array<[string, Buffer, number]> = [
    ['empty', Buffer.alloc(0), 275646681],
    ['ff×1', Buffer.alloc(1, 0xff), -311467685],
    ['ff×2', Buffer.alloc(2, 0xff), -1642832928],
    ['ff×3', Buffer.alloc(3, 0xff), 1548199422],
    ['ff×4', Buffer.alloc(4, 0xff), 644171429],
    ['ff×5', Buffer.alloc(5, 0xff), -363838622],
    ['ff×6', Buffer.alloc(6, 0xff), 28450676],
    ['ff×7', Buffer.alloc(7, 0xff), -71293549],
    ['utf-8 text', Buffer.from('ünïcødé-käy', 'utf8'), -808623641],
    ['mixed bytes', Buffer.from([0x80, 0x7f, 0xfe, 0x01, 0x99]), 1546305685],
  ];
  it.each(jvm)('matches the JVM for %s', (_name, data, hash) => {
    expect(murmur2(data)).toBe(hash);
  });
});

describe('partitionForKey', () => {
  it('is toPositive(murmur2) mod the partition count', () => {
    for (const [text, parts] of [['21', 6], ['foobar', 12], ['abc', 3]] as const) {
      const key = Buffer.from(text);
      expect(partitionForKey(key, parts)).toBe((murmur2(key) & 0x7fffffff) % parts);
    }
    // -973932308 & 0x7fffffff = 1173551340; mod 6 = 0, mod 10 = 0, mod 7 = 2
    expect(toPositive(-973932308)).toBe(1173551340);
    expect(partitionForKey(Buffer.from('21'), 7)).toBe(1173551340 % 7);
  });

  it('uses toPositive, not Math.abs', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(2147483647);
  });

  it('refuses a partition count that is not a positive integer', () => {
    catchError(() => partitionForKey(Buffer.from('k'), 0), 'INTERNAL');
    catchError(() => partitionForKey(Buffer.from('k'), 2.5), 'INTERNAL');
  });
});
