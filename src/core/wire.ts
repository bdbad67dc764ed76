import { DecodeError } from './decode-error.js';
import { ReprocessError } from '../errors.js';

/*
 * Confluent wire format, as written by every Confluent-compatible Avro serializer:
 *
 *   byte 0      magic byte, always 0x00
 *   bytes 1-4   schema id, 32-bit big-endian (a Java int; ids are non-negative)
 *   bytes 5..   the Avro binary body, encoded with that writer schema (no container framing)
 *
 * So a valid value is at least 5 bytes; a record with an empty Avro body is exactly 5.
 */
export const WIRE_MAGIC = 0;
export const WIRE_HEADER_BYTES = 5;

export interface WireMessage {
  schemaId: number;
  /** A view into the input buffer, not a copy. */
  body: Buffer;
}

export function encodeWire(schemaId: number, body: Buffer): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff) {
    throw new ReprocessError(
      'ENCODE_FAILED',
      `schema id ${String(schemaId)} does not fit the wire format: it must be an integer in [0, 2147483647]`,
      { hint: 'Use the id the schema registry returned when the schema was registered.' },
    );
  }
  const header = Buffer.allocUnsafe(WIRE_HEADER_BYTES);
  header.writeUInt8(WIRE_MAGIC, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

/** Split a Kafka record value into schema id and Avro body; throws DecodeError (DLQ-able). */
/** The schema id a value names, or null when it is not in the wire format (decodeWireHeader says why). */
export function wireSchemaId(buf: Buffer | null): number | null {
  return buf === null ? null : wireSchemaIdAt(buf, 0, buf.length);
}

/** As wireSchemaId, for a value that is `length` bytes of `buf` from `start` (a length < 0: null). */
export function wireSchemaIdAt(buf: Buffer, start: number, length: number): number | null {
  return length >= WIRE_HEADER_BYTES && buf[start] === WIRE_MAGIC ? buf.readInt32BE(start + 1) : null;
}

export function decodeWireHeader(buf: Buffer | null): WireMessage {
  if (buf === null) {
    throw new DecodeError('null-value', 'record value is null (a tombstone?): there is no event to decode', {
      hint: 'A null value carries no event; it goes to the DLQ so that it is counted, not silently dropped.',
    });
  }
  // An empty value has no magic byte at all: "truncated", so that "bad-magic" means a foreign format.
  if (buf.length > 0 && buf.readUInt8(0) !== WIRE_MAGIC) {
    const first = `0x${buf.readUInt8(0).toString(16).padStart(2, '0')}`;
    throw new DecodeError('bad-magic', `record value starts with ${first}, not the Confluent magic byte 0x00`, {
      hint: 'The producer did not use a Confluent-compatible Avro serializer (plain JSON or raw Avro?).',
    });
  }
  if (buf.length < WIRE_HEADER_BYTES) {
    throw new DecodeError(
      'truncated',
      `record value is ${String(buf.length)} bytes: shorter than the 5-byte Confluent wire header`,
      { hint: 'The record was cut short by its producer; it cannot be decoded.' },
    );
  }
  return { schemaId: buf.readInt32BE(1), body: buf.subarray(WIRE_HEADER_BYTES) };
}
