// Records to count and what counting them must give (the comparison's counting: counter.ts,
// counting.ts, compare_apply.lua): events of a schema with every kind of field a comparison reads,
// record keys of every awkward kind, and the counting written plainly.
import { isUtf8 } from 'node:buffer';
import avro from 'avsc';
import { expect } from 'vitest';
import { NULL_DIMENSION_VALUE, bucketOf } from '../../src/compare/core/index.js';
import { MICRO, SEP, bucketField, type BatchCounts, type CountSpec } from '../../src/compare/counter.js';
import type { ConsumedRecord } from '../../src/kafka/index.js';
import { encodeWire, rng } from './helpers.js';

export const EVENT = avro.Type.forSchema({
  type: 'record', name: 'Engagement', fields: [
    { name: 'user_id', type: 'string' },
    { name: 'country', type: ['null', 'string'] },
    { name: 'category', type: 'string' },
    { name: 'level', type: ['null', 'int', 'string', 'boolean'] },
    { name: 'revenue', type: ['null', 'double', 'string'] },
    { name: 'units', type: 'long' },
    { name: 'tag', type: { type: 'enum', name: 'Tag', symbols: ['A', 'B'] } },
  ],
} as avro.Schema, { wrapUnions: false });
/** The same events with a dimension the locator does not handle (an enum): read as objects. */
export const ENUM_DIMENSION: CountSpec = { dimensions: ['country', 'tag'], measures: ['revenue'], nulls: ['country'], bucketMs: 3_600_000, fromMs: 1_000_000, toMs: 50_000_000 };
export const SPEC: CountSpec = { dimensions: ['country', 'category', 'level'], measures: ['revenue', 'units'], nulls: ['country', 'level', 'missing'], bucketMs: 3_600_000, fromMs: 1_000_000, toMs: 50_000_000 };

/** The counting written plainly: every record decoded whole, values turned into texts with String(). */
export function reference(spec: CountSpec, records: ConsumedRecord[]): { fields: Map<string, number>; keys: Map<string, number> } {
  const fields = new Map<string, number>();
  const keys = new Map<string, number>();
  const add = (m: Map<string, number>, f: string, n: number): void => void m.set(f, (m.get(f) ?? 0) + n);
  // Sums in millionths by measure (top level) or by "d␟<dimension>␟<value>␟␟<measure>".
  const sums = new Map<string, bigint>();
  for (const r of records) {
    const ts = Number(r.timestamp);
    if (ts < spec.fromMs || ts >= spec.toMs) continue;
    const v = EVENT.fromBuffer((r.value as Buffer).subarray(5)) as Record<string, unknown>;
    add(fields, 'count', 1);
    add(fields, bucketField(bucketOf(ts, spec.bucketMs)), 1);
    for (const f of spec.nulls) if (v[f] === null || v[f] === undefined) add(fields, `n${SEP}${f}`, 1);
    const x = spec.measures.map((m) => (typeof v[m] === 'number' && Number.isFinite(v[m]) ? Math.round((v[m] as number) * MICRO) : null));
    spec.measures.forEach((m, i) => {
      if (x[i] !== null) sums.set(m, (sums.get(m) ?? 0n) + BigInt(x[i] as number));
    });
    for (const d of spec.dimensions) {
      const raw = v[d];
      const dv = raw === null || raw === undefined ? NULL_DIMENSION_VALUE : String(raw);
      add(fields, `d${SEP}${d}${SEP}${dv}${SEP}count`, 1);
      spec.measures.forEach((m, i) => {
        if (x[i] !== null) sums.set(`d${SEP}${d}${SEP}${dv}${SEP}${SEP}${m}`, (sums.get(`d${SEP}${d}${SEP}${dv}${SEP}${SEP}${m}`) ?? 0n) + BigInt(x[i] as number));
      });
    }
    add(keys, r.key === null ? NULL_DIMENSION_VALUE : r.key.toString('utf8'), 1);
  }
  // Each sum, in millionths, as two fields: whole units (su) and the millionths left (sm), both
  // truncated toward zero (BigInt division).
  for (const [path, micro] of sums) {
    const cut = path.lastIndexOf(`${SEP}${SEP}`);
    const [prefix, measure] = cut < 0 ? ['', path] : [path.slice(0, cut + 1), path.slice(cut + 2)];
    const units = micro / BigInt(MICRO);
    fields.set(`${prefix}su${SEP}${measure}`, Number(units));
    fields.set(`${prefix}sm${SEP}${measure}`, Number(micro - units * BigInt(MICRO)));
  }
  return { fields, keys };
}

/** Counts as sent to Redis, with record keys of the same text (bytes that are not UTF-8) added up, as HINCRBY does. */
export function merged(c: BatchCounts): { fields: Map<string, number>; keys: Map<string, number> } {
  const keys = new Map<string, number>();
  for (const [key, n] of unpackKeys(c.keys)) keys.set(key, (keys.get(key) ?? 0) + n);
  return { fields: c.fields, keys };
}

/**
 * BatchCounts.keys read as compare_apply.lua has cmsgpack read it, strictly: one array of key,
 * count, key, count, … (strings as fixstr, str 16 or str 32; counts as positive fixint, uint 16 or
 * uint 32), every byte used.
 */
export function unpackKeys(packed: Buffer): [string, number][] {
  if (packed.length === 0) return [];
  let at = 0;
  const header = (small: number, smallBits: number, x16: number, x32: number): number => {
    const b = packed[at++] as number;
    if (small >= 0 && (b & ~smallBits) === small) return b & smallBits;
    if (b === x16) return (at += 2, packed.readUInt16BE(at - 2));
    if (b === x32) return (at += 4, packed.readUInt32BE(at - 4));
    throw new Error(`unexpected MessagePack byte 0x${b.toString(16)} at ${at - 1}`);
  };
  const n = header(0x90, 0x0f, 0xdc, 0xdd);
  expect(n % 2).toBe(0);
  const out: [string, number][] = [];
  for (let i = 0; i < n; i += 2) {
    const length = header(0xa0, 0x1f, 0xda, 0xdb);
    const key = packed.subarray(at, at + length);
    at += length;
    // What Redis keeps is UTF-8 text.
    expect(isUtf8(key)).toBe(true);
    const count = header(0x00, 0x7f, 0xcd, 0xce);
    expect(count).toBeGreaterThan(0);
    out.push([key.toString('utf8'), count]);
  }
  expect(at).toBe(packed.length);
  return out;
}

export function events(seed: number, count: number, keyspace: number): ConsumedRecord[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  // Some keys not ASCII, some holding the packing's own separators, some long (a length of three digits).
  const users = Array.from({ length: keyspace }, (_, i) => (i % 97 === 5 ? `ü-${i}-é` : i % 89 === 7 ? `k:${i},1,:` : i % 83 === 3 ? `${'k'.repeat(150)}${i}` : `user-${i}`));
  return Array.from({ length: count }, (_, n) => {
    const value = {
      user_id: pick(users),
      country: next() < 0.1 ? null : pick(['DE', 'US', 'Ísland', '日本', '', NULL_DIMENSION_VALUE]),
      category: pick(['books', 'games', 'a\u0000b', 'x'.repeat(300)]),
      level: pick([null, 1, -7, '1', 'gold', true, false]),
      // Large values, but sums a comparison adds exactly (counter.ts `exact`).
      revenue: pick([null, 0.1, 12.345678, -3.5, 987_654.321, Number.NaN, 'n/a']),
      units: pick([0, 1, 2 ** 21, -5]),
      tag: pick(['A', 'B']),
    };
    const key = next() < 0.02 ? null : next() < 0.01 ? Buffer.from([0x75, 0xff, n % 2 === 0 ? 0xfe : 0xfd]) : next() < 0.005 ? Buffer.alloc(0) : Buffer.from(value.user_id);
    // A few timestamps outside the window.
    const ts = next() < 0.03 ? 999_999 : 1_000_000 + Math.floor(next() * 40_000_000);
    return { offset: String(n), key, value: encodeWire(next() < 0.5 ? 41 : 42, EVENT.toBuffer(value)), timestamp: String(ts), headers: {} };
  });
}
