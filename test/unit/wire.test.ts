import { describe, expect, it } from 'vitest';
import { DecodeError, catchError, decodeWireHeader, encodeWire, wireSchemaId, wireSchemaIdAt } from './helpers.js';

const reasonOf = (buf: Buffer | null): string => {
  const err = catchError(() => decodeWireHeader(buf), 'DECODE_FAILED');
  expect(err).toBeInstanceOf(DecodeError);
  return err instanceof DecodeError ? err.reason : 'not a DecodeError';
};

describe('Confluent wire format', () => {
  it('round-trips schema id and body', () => {
    const body = Buffer.from([0x02, 0x0a, 0xff, 0x00]);
    const buf = encodeWire(0x01020304, body);
    expect([...buf]).toEqual([0, 1, 2, 3, 4, 0x02, 0x0a, 0xff, 0x00]);
    const decoded = decodeWireHeader(buf);
    expect(decoded.schemaId).toBe(0x01020304);
    expect(decoded.body.equals(body)).toBe(true);
  });

  it('handles the largest schema id and an empty body', () => {
    const decoded = decodeWireHeader(encodeWire(2147483647, Buffer.alloc(0)));
    expect(decoded.schemaId).toBe(2147483647);
    expect(decoded.body.length).toBe(0);
  });

  it('refuses schema ids that do not fit a Java int', () => {
    for (const id of [-1, 2 ** 31, 1.5, Number.NaN]) {
      expect(catchError(() => encodeWire(id, Buffer.alloc(0)), 'ENCODE_FAILED').message).toMatch(/schema id/);
    }
  });

  it('names each failure with a stable reason', () => {
    expect(reasonOf(null)).toBe('null-value');
    expect(reasonOf(Buffer.from('{"json":true}'))).toBe('bad-magic');
    expect(reasonOf(Buffer.from([1, 0, 0, 0, 1, 2]))).toBe('bad-magic');
    expect(reasonOf(Buffer.alloc(0))).toBe('truncated');
    expect(reasonOf(Buffer.from([0, 0, 0, 1]))).toBe('truncated');
  });

  it('says what the first byte was and serialises the reason', () => {
    const err = catchError(() => decodeWireHeader(Buffer.from([0x7b, 0, 0, 0, 0])), 'DECODE_FAILED');
    expect(err.message).toContain('0x7b');
    expect(err.toJSON()).toMatchObject({ code: 'DECODE_FAILED', reason: 'bad-magic', retriable: false });
  });
});

describe('wireSchemaId / wireSchemaIdAt', () => {
  it('reads the schema id a value names, in a buffer of its own or inside a larger one', () => {
    const value = encodeWire(4242, Buffer.from([1, 2, 3]));
    expect(wireSchemaId(value)).toBe(4242);
    const around = Buffer.concat([Buffer.from([9, 9, 9]), value, Buffer.from([7])]);
    expect(wireSchemaIdAt(around, 3, value.length)).toBe(4242);
  });

  it('names no id for what is not the wire format: null, short, or another magic byte', () => {
    expect(wireSchemaId(null)).toBeNull();
    expect(wireSchemaId(Buffer.from([0, 0, 0, 1]))).toBeNull();
    expect(wireSchemaId(Buffer.from([1, 0, 0, 0, 1]))).toBeNull();
    const around = Buffer.from([0, 0, 0, 0, 5, 0]);
    expect(wireSchemaIdAt(around, 0, -1)).toBeNull();
    expect(wireSchemaIdAt(around, 0, 4)).toBeNull();
    expect(wireSchemaIdAt(around, 0, 5)).toBe(5);
  });
});
