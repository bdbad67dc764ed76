// A record schema with a field of every kind the compiled Avro reader and writer handle
// (src/replay/avro-read.ts, avro-write.ts), and random values for it.
import { STRING_ALPHABETS, randomLong, randomString } from './helpers.js';

export const WIDE = {
  type: 'record', name: 'Event', namespace: 'example.events',
  fields: [
    { name: 'schema_version', type: 'int' },
    { name: 'event_id', type: 'string' },
    { name: 'user_id', type: ['long', 'string'] },
    { name: 'flag', type: 'boolean' },
    { name: 'country', type: ['null', 'string'], default: null },
    { name: 'amount', type: ['null', 'double'], default: null },
    { name: 'ratio', type: 'float' },
    { name: 'raw', type: 'bytes' },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['VIEW', 'CLICK', 'PURCHASE'] } },
    { name: 'hash', type: { type: 'fixed', name: 'Hash', size: 4 } },
    { name: 'other_kind', type: ['null', 'example.events.Kind'] },
    { name: 'other_hash', type: 'Hash' },
    { name: 'device', type: ['null', { type: 'record', name: 'Device', fields: [{ name: 'os', type: 'string' }, { name: 'version', type: 'long' }] }] },
    { name: 'nothing', type: 'null' },
    { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};

/** A random value of WIDE; `alphabets` are its strings' (helpers.ts STRING_ALPHABETS by default). */
export function wideValue(next: () => number, n: number, alphabets: readonly string[] = STRING_ALPHABETS): Record<string, unknown> {
  const maybe = <T>(v: T): T | null => (next() < 0.3 ? null : v);
  return {
    schema_version: Math.round((next() * 2 - 1) * 2 ** 31) | 0,
    event_id: randomString(next, n, alphabets),
    user_id: next() < 0.5 ? randomLong(next) : randomString(next, n + 1, alphabets),
    flag: next() < 0.5,
    country: maybe(randomString(next, n + 2, alphabets)),
    amount: maybe((next() - 0.5) * 1e6),
    ratio: Math.fround(next()),
    raw: Buffer.from(randomString(next, n + 3, alphabets)),
    kind: ['VIEW', 'CLICK', 'PURCHASE'][n % 3],
    hash: Buffer.from([n & 0xff, 1, 2, 0xff]),
    other_kind: maybe('CLICK'),
    other_hash: Buffer.from([0x80, 0, 0x7f, n & 0xff]),
    device: maybe({ os: randomString(next, n + 4, alphabets), version: randomLong(next) }),
    nothing: null,
    event_time: randomLong(next),
  };
}
