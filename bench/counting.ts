/**
 * `node bench/counting.ts`: the comparison aggregator's counting alone (src/compare/counter.ts),
 * on one thread, with no Kafka or Redis: the counters of fetched batches of the example's v3
 * events (~150 bytes, 5,000 record keys, the bench's dimensions, measure and null field), as
 * `aggregate()` makes them before applying them to Redis. Each round counts the same batches,
 * so the fastest rounds of two builds, alternated, can be compared.
 *
 *   node bench/counting.ts --records 200000 --rounds 20
 *
 * Prints µs per record (fastest round, median round) and writes nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import avro from 'avsc';
import { BatchCounter } from '../dist/compare/counter.js';
import { encodeWire } from '../dist/core/index.js';
import { exampleDir } from '../dist/demo/index.js';
import { columnsOf } from '../dist/kafka/columns.js';
import type { RecordColumns } from '../dist/kafka/index.js';
import { parseCount } from './lib.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '20' },
    batch: { type: 'string', default: '4650' },
    keys: { type: 'string', default: '5000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write('node bench/counting.ts [--records N (200000)] [--rounds R (20)] [--batch B (4650)] [--keys K (5000)]\n');
  process.exit(0);
}
const records = parseCount(values.records, '--records');
const rounds = parseCount(values.rounds, '--rounds');
const batchSize = parseCount(values.batch, '--batch');
const keyCount = parseCount(values.keys, '--keys');

const schema = JSON.parse(readFileSync(join(exampleDir(), 'schemas', 'user_engagement-v3.avsc'), 'utf8')) as avro.Schema;
const type = avro.Type.forSchema(schema, { wrapUnions: false });
const SCHEMA_ID = 7;

// A small deterministic generator (mulberry32), so every build counts the same records.
let seed = 0x2545f491;
const next = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(next() * 16).toString(16)).join('');
const users = Array.from({ length: keyCount }, () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`);
const COUNTRIES = ['US', 'DE', 'GB', 'FR', 'IN', 'BR', 'JP', 'CA', 'AU', 'ES', 'IT', 'NL', 'MX'];
const CATEGORIES = ['electronics', 'books', 'home', 'fashion', 'sports', 'toys', 'beauty', 'grocery', 'garden'];
const SEGMENTS = ['new', 'casual', 'loyal', 'vip'];
const FROM = Date.parse('2023-04-01T00:00:00Z');
const SPAN = 91 * 86_400_000;

const batches: RecordColumns[] = [];
for (let at = 0; at < records; at += batchSize) {
  const n = Math.min(batchSize, records - at);
  const times = Array.from({ length: n }, () => FROM + Math.floor(next() * SPAN)).sort((a, b) => a - b);
  batches.push(columnsOf(times.map((ts, i) => {
    const user = pick(users);
    const value = encodeWire(SCHEMA_ID, type.toBuffer({
      user_id: user, event_id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`, event_type: pick(['view', 'click', 'purchase']),
      country: next() < 0.05 ? null : pick(COUNTRIES), product_category: pick(CATEGORIES), user_segment: pick(SEGMENTS),
      revenue_usd: next() < 0.7 ? null : Math.round(next() * 50_000) / 100, event_time: ts, source_version: 2, fx_rate_date: null,
    }));
    return { offset: String(at + i), key: Buffer.from(user), value, timestamp: String(ts), headers: {} };
  })));
}

const counter = new BatchCounter({ dimensions: ['country', 'product_category', 'user_segment'], measures: ['revenue_usd'], nulls: ['country'], bucketMs: 86_400_000, fromMs: FROM, toMs: FROM + SPAN });
const readers = new Map([[SCHEMA_ID, counter.reader(type)]]);
const times: number[] = [];
let check = 0;
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  for (const b of batches) check += counter.count(b, readers, 'bench', 0).records;
  times.push(((performance.now() - t0) * 1000) / records);
}
if (check !== records * rounds) throw new Error(`counted ${check} records of ${records * rounds}`);
times.sort((a, b) => a - b);
const locating = readers.get(SCHEMA_ID)?.locate ? 'located' : 'read as objects';
process.stdout.write(`${records.toLocaleString('en-US')} records (${locating}), ${batches.length} batches: fastest ${times[0]?.toFixed(3)} µs/record, median ${times[Math.floor(times.length / 2)]?.toFixed(3)} µs/record\n`);
