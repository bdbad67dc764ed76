import { hash } from 'node:crypto';
import { ReprocessError } from '../errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for the canonical 8-4-4-4-12 hex form (any version, either case). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

const namespaces = new Map<string, Buffer>();
/** Recent answers per namespace: a backfill maps the same legacy ids over and over. */
const memo = new Map<string, Map<string, string>>();
const MEMO_MAX = 100_000;

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1): the same name and namespace always give the same UUID. */
export function uuidv5(name: string, namespace: string): string {
  const known = memo.get(namespace)?.get(name);
  if (known !== undefined) return known;
  let ns = namespaces.get(namespace);
  if (!ns) {
    if (!isUuid(namespace)) {
      throw new ReprocessError('SPEC_INVALID', `UUID namespace "${namespace}" is not a UUID`, {
        hint: 'Give the namespace as 8-4-4-4-12 hex digits, e.g. 6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15.',
      });
    }
    ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
    namespaces.set(namespace, ns);
  }
  const b = hash('sha1', Buffer.concat([ns, Buffer.from(name, 'utf8')]), 'buffer').subarray(0, 16);
  // Indexes 6 and 8 exist: a SHA-1 digest is 20 bytes.
  b.writeUInt8((b.readUInt8(6) & 0x0f) | 0x50, 6); // version 5
  b.writeUInt8((b.readUInt8(8) & 0x3f) | 0x80, 8); // RFC 4122 variant
  const hex = b.toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  let names = memo.get(namespace);
  if (!names) memo.set(namespace, (names = new Map()));
  // Bounded: a full memo starts over rather than growing with the number of distinct ids.
  if (names.size >= MEMO_MAX) names.clear();
  names.set(name, uuid);
  return uuid;
}
