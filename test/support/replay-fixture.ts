import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { encodeWire, partitionForKey, uuidv5 } from '../../src/core/index.js';
import type { KafkaClient, OutRecord } from '../../src/kafka/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { testEndpoints, unique, waitFor } from './env.js';

export const NAMESPACE = '6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15';
export const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;

const base = (userIdType: string) => ({
  type: 'record',
  name: 'Event',
  namespace: 'test.source',
  fields: [
    { name: 'schema_version', type: 'int' },
    { name: 'user_id', type: userIdType },
    { name: 'n', type: 'int' },
    { name: 'amount', type: 'double' },
    { name: 'country', type: ['null', 'string'], default: null },
  ],
});
export const V1 = base('long');
export const V2 = base('string');
export const OUT = {
  type: 'record',
  name: 'Out',
  namespace: 'test.sink',
  fields: [
    { name: 'user_id', type: 'string' },
    { name: 'n', type: 'int' },
    { name: 'amount_cents', type: 'long' },
    { name: 'country', type: ['null', 'string'], default: null },
    { name: 'source_version', type: 'int' },
  ],
};

/** The transform the fixture jobs run: throws for n % 97 === 13 so every source has transform failures. */
export const TRANSFORM_JS = `
export default function transform(event, ctx) {
  if (event.n % 97 === 13) throw new Error('transform refuses n=' + event.n);
  return { user_id: event.user_id, n: event.n, amount_cents: Math.round(event.amount * 100), country: event.country, source_version: ctx.version };
}
`;

export type Poison = 'bad-magic' | 'truncated' | 'unknown-schema-id' | 'unknown-version';

export interface SourceEvent {
  n: number;
  version: 1 | 2;
  userInt: number;
  timestamp: number;
  poison?: Poison;
}

/** n events, one per hour from T0: the first half v1 (integer ids), the rest v2 (UUIDs); a few poison records. */
export function makeEvents(count: number, poisonAt: Record<number, Poison> = {}): SourceEvent[] {
  return Array.from({ length: count }, (_, n) => ({
    n,
    version: n < count / 2 ? 1 : 2,
    userInt: (n * 7) % 23,
    timestamp: T0 + n * HOUR,
    ...(poisonAt[n] ? { poison: poisonAt[n] } : {}),
  }));
}

export function userUuid(userInt: number): string {
  return uuidv5(String(userInt), NAMESPACE);
}

export interface Source {
  topic: string;
  partitions: number;
  events: SourceEvent[];
  /** Source partition each event went to. */
  partitionOf: Map<number, number>;
}

async function allowIncompatible(registry: RegistryClient, subject: string): Promise<void> {
  const res = await fetch(`${registry.url}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'NONE' }),
  });
  if (!res.ok) throw new Error(`setting compatibility of ${subject}: HTTP ${res.status} ${await res.text()}`);
}

/** Creates a source topic and produces the events in Confluent wire format, keyed by user. */
export async function createSource(client: KafkaClient, events: SourceEvent[], options: { partitions?: number; transactional?: boolean; topic?: string; compression?: 'gzip' } = {}): Promise<Source> {
  const partitions = options.partitions ?? 3;
  const topic = options.topic ?? unique('src');
  const admin = await client.admin();
  await admin.createTopic({ topic, partitions });
  const registry = new RegistryClient({ endpoint: testEndpoints().registry });
  await registry.register(`${topic}-value`, V1);
  await allowIncompatible(registry, `${topic}-value`);
  const id1 = await registry.register(`${topic}-value`, V1);
  const id2 = await registry.register(`${topic}-value`, V2);
  const t1 = avro.Type.forSchema(V1 as avro.Schema);
  const t2 = avro.Type.forSchema(V2 as avro.Schema);
  const partitionOf = new Map<number, number>();
  const records: OutRecord[] = events.map((e) => {
    const key = Buffer.from(e.version === 1 ? String(e.userInt) : userUuid(e.userInt));
    const partition = partitionForKey(Buffer.from(String(e.userInt)), partitions);
    partitionOf.set(e.n, partition);
    const country = e.n % 10 === 0 ? null : ['US', 'BR', 'DE'][e.n % 3] ?? null;
    const valid = e.version === 1
      ? encodeWire(id1, t1.toBuffer({ schema_version: 1, user_id: e.userInt, n: e.n, amount: e.n / 4, country }))
      : encodeWire(id2, t2.toBuffer({ schema_version: 2, user_id: userUuid(e.userInt), n: e.n, amount: e.n / 4, country }));
    let value = valid;
    if (e.poison === 'bad-magic') value = Buffer.from(JSON.stringify({ n: e.n }));
    if (e.poison === 'truncated') value = valid.subarray(0, 3);
    if (e.poison === 'unknown-schema-id') value = encodeWire(2_147_480_000, valid.subarray(5));
    if (e.poison === 'unknown-version') value = encodeWire(id2, t2.toBuffer({ schema_version: 9, user_id: userUuid(e.userInt), n: e.n, amount: 1, country }));
    return { key, value, timestamp: String(e.timestamp), partition, headers: { 'test-n': String(e.n) } };
  });
  if (options.transactional) {
    const producer = await client.producer({ transactionalId: unique('src-tx') });
    for (let i = 0; i < records.length; i += 50) {
      const tx = await producer.transaction();
      await tx.send(topic, records.slice(i, i + 50));
      await tx.commit();
    }
    await producer.close();
    // EndTxn returns before the coordinator has written the last transaction's markers, and until
    // it has, the partitions' end offsets (as read_committed readers see them) stop before it.
    // Tests take their windows from those offsets, so wait until they cover every record.
    await waitFor(`${topic}'s end offsets to cover its ${records.length} records`, async () =>
      (await admin.watermarks(topic)).reduce((n, w) => n + Number(w.high), 0) >= records.length ? true : undefined);
  } else {
    const producer = await client.producer(options.compression ? { compression: options.compression } : {});
    await producer.send(topic, records);
    await producer.close();
  }
  return { topic, partitions, events, partitionOf };
}

export interface JobDir {
  dir: string;
  spec: string;
  dataset: string;
  cleanup(): void;
}

/** Writes a job spec, its transform and output schema into a temp folder. */
export function writeJob(source: Source, overrides: { from?: string; to?: string; extra?: string; transform?: string; transformFile?: string; dataset?: string; version?: number } = {}): JobDir {
  const dir = mkdtempSync(join(tmpdir(), 'reprocess-job-'));
  const dataset = overrides.dataset ?? unique('ds').replace(/-/g, '_');
  const transformFile = overrides.transformFile ?? 'transform.mjs';
  writeFileSync(join(dir, transformFile), overrides.transform ?? TRANSFORM_JS);
  writeFileSync(join(dir, 'out.avsc'), JSON.stringify(OUT, null, 2));
  const spec = join(dir, 'job.yaml');
  writeFileSync(spec, `dataset: ${dataset}
version: ${overrides.version ?? 3}
source:
  topic: ${source.topic}
  from: ${overrides.from ?? new Date(T0).toISOString()}
  to: ${overrides.to ?? new Date(T0 + source.events.length * HOUR).toISOString()}
  versionField: schema_version
upcast:
  legacyIds:
    fields: [user_id]
    upTo: 1
    namespace: ${NAMESPACE}
transform: ./${transformFile}
output:
  schema: ./out.avsc
  key: user_id
dlq:
  maxRatio: 0.2
${overrides.extra ?? ''}
`);
  return { dir, spec, dataset, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
