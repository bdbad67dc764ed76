/**
 * The naive baseline: what a team writes in an afternoon with kafkajs and avsc. A consumer group
 * with autoCommit (at-least-once), each batch decoded with the writer schema (fetched from the
 * registry once per id), upcast, transformed, encoded with the output schema and sent with a
 * plain producer. No transactions, no DLQ, no rate limit, no progress tracking: the same work
 * per record as the replay, without the guarantees. None of the product's code is used, and
 * kafkajs is the one npm ships: the product replaces some of kafkajs's producer internals when
 * it loads it (src/kafka/kafkajs-fastpath.ts), so this loop loads a separate, unmodified instance.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import avsc from 'avsc';
import type { KafkaConfig, Message, SASLOptions } from 'kafkajs';
import type { KafkaEndpoint, RegistryEndpoint } from '../dist/config/endpoints.js';

type Event = Record<string, unknown>;

export interface NaiveOptions {
  kafka: KafkaEndpoint;
  registry: RegistryEndpoint;
  sourceTopic: string;
  sinkTopic: string;
  groupId: string;
  /** Partition → end offset (exclusive) of the window. */
  ends: Map<number, bigint>;
  transform: (event: Event, ctx: { topic: string; partition: number; offset: string; timestamp: string; key: Buffer | null; version: number }) => unknown;
  upcasters: Record<number, (event: Event) => Event>;
  legacyIds: { fields: string[]; upTo: number; namespace: string } | null;
  latestVersion: number;
  versionField: string;
  outputSchema: object;
  keyField: string;
}

export interface NaiveResult {
  read: number;
  written: number;
  failed: number;
  batches: number;
  firstBatchAt: number | null;
  lastBatchDoneAt: number | null;
}

function uuidv5(name: string, namespace: string): string {
  const b = createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name).digest().subarray(0, 16);
  b.writeUInt8(((b[6] ?? 0) & 0x0f) | 0x50, 6);
  b.writeUInt8(((b[8] ?? 0) & 0x3f) | 0x80, 8);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export { uuidv5 as naiveUuidv5 };

/**
 * kafkajs as shipped, as an instance of its own: its modules are loaded afresh from disk with the
 * module cache emptied of kafkajs for the duration, then the cache is put back as it was, so the
 * product's (fast-path) instance in the same process is untouched.
 */
export function stockKafkajs(): typeof import('kafkajs') {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('kafkajs/package.json')) + sep;
  const mine = (k: string): boolean => k.startsWith(root);
  const saved = Object.entries(require.cache).filter(([k]) => mine(k));
  for (const [k] of saved) delete require.cache[k];
  try {
    return require('kafkajs') as typeof import('kafkajs');
  } finally {
    for (const k of Object.keys(require.cache)) if (mine(k)) delete require.cache[k];
    for (const [k, m] of saved) require.cache[k] = m;
  }
}

export async function runNaive(o: NaiveOptions): Promise<NaiveResult> {
  const { Kafka, logLevel } = stockKafkajs();
  const headers: Record<string, string> = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' };
  if (o.registry.auth) headers.Authorization = 'Basic ' + Buffer.from(`${o.registry.auth.username}:${o.registry.auth.password}`).toString('base64');
  const reg = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${o.registry.url}${path}`, { method, headers, signal: AbortSignal.timeout(10_000), ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`registry ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  const types = new Map<number, avsc.Type>();
  const outType = avsc.Type.forSchema(o.outputSchema as avsc.Schema, { wrapUnions: false });
  const { id: outId } = await reg('POST', `/subjects/${encodeURIComponent(`${o.sinkTopic}-value`)}/versions`, { schema: JSON.stringify(o.outputSchema) });
  const header = Buffer.alloc(5);
  header.writeInt32BE(Number(outId), 1);

  const config: KafkaConfig = { clientId: 'bench-naive', brokers: o.kafka.brokers, logLevel: logLevel.NOTHING };
  if (o.kafka.sasl) config.sasl = { ...o.kafka.sasl } as SASLOptions;
  if (o.kafka.ssl) config.ssl = { ...o.kafka.ssl };
  const kafka = new Kafka(config);
  const consumer = kafka.consumer({ groupId: o.groupId });
  const producer = kafka.producer();
  await Promise.all([consumer.connect(), producer.connect()]);

  const result: NaiveResult = { read: 0, written: 0, failed: 0, batches: 0, firstBatchAt: null, lastBatchDoneAt: null };
  const pending = new Set([...o.ends].filter(([, end]) => end > 0n).map(([p]) => p));
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  if (pending.size === 0) finish();

  await consumer.subscribe({ topic: o.sourceTopic, fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    eachBatch: async ({ batch }) => {
      result.firstBatchAt ??= performance.now();
      result.batches++;
      for (const m of batch.messages) {
        const v = m.value;
        if (v && v.length > 5 && v[0] === 0) {
          const id = v.readInt32BE(1);
          if (!types.has(id)) {
            const { schema } = await reg('GET', `/schemas/ids/${id}`);
            types.set(id, avsc.Type.forSchema(JSON.parse(String(schema)) as avsc.Schema, { wrapUnions: false }));
          }
        }
      }
      const out: Message[] = [];
      for (const m of batch.messages) {
        result.read++;
        try {
          const v = m.value;
          if (!v || v.length < 5 || v[0] !== 0) throw new Error('not Confluent wire format');
          const type = types.get(v.readInt32BE(1));
          if (!type) throw new Error('unknown schema id');
          let event = { ...(type.fromBuffer(v.subarray(5)) as Event) };
          const version = Number(event[o.versionField]);
          if (o.legacyIds && version <= o.legacyIds.upTo) {
            for (const f of o.legacyIds.fields) if (typeof event[f] === 'number') event[f] = uuidv5(String(event[f]), o.legacyIds.namespace);
          }
          for (let k = version; k < o.latestVersion; k++) {
            const up = o.upcasters[k];
            if (up) event = up(event);
          }
          event[o.versionField] = o.latestVersion;
          const rec = (await o.transform(event, { topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp: m.timestamp, key: m.key, version })) as Event | null;
          if (!rec) continue;
          out.push({ key: String(rec[o.keyField]), value: Buffer.concat([header, outType.toBuffer(rec)]), timestamp: m.timestamp });
        } catch {
          result.failed++;
        }
      }
      await producer.send({ topic: o.sinkTopic, messages: out, acks: -1 });
      result.written += out.length;
      result.lastBatchDoneAt = performance.now();
      const end = o.ends.get(batch.partition) ?? 0n;
      if (BigInt(batch.lastOffset()) + 1n >= end && pending.delete(batch.partition) && pending.size === 0) finish();
    },
  });
  await finished;
  await consumer.disconnect();
  await producer.disconnect();
  return result;
}
