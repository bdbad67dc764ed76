import { createHash } from 'node:crypto';
import { ReprocessError } from '../errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for the canonical 8-4-4-4-12 hex form (any version, either case). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1): the same name and namespace always give the same UUID. */
export function uuidv5(name: string, namespace: string): string {
  if (!isUuid(namespace)) {
    throw new ReprocessError('SPEC_INVALID', `UUID namespace "${namespace}" is not a UUID`, {
      hint: 'Give the namespace as 8-4-4-4-12 hex digits, e.g. 6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15.',
    });
  }
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(Buffer.from(name, 'utf8'))
    .digest();
  const b = hash.subarray(0, 16);
  // Indexes 6 and 8 exist: a SHA-1 digest is 20 bytes.
  b.writeUInt8((b.readUInt8(6) & 0x0f) | 0x50, 6); // version 5
  b.writeUInt8((b.readUInt8(8) & 0x3f) | 0x80, 8); // RFC 4122 variant
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
