/**
 * The Kafka client alone on the replay's path, kafkajs (through the product's adapter,
 * dist/kafka) against @platformatic/kafka: consume a topic read_committed in a consumer group
 * and copy every record into a sink topic exactly once, one transactional producer per source
 * partition (the replay's transactional ids), one transaction per chunk of at most 5,000 records
 * holding the records and the group's offset. No decoding: what is left is the client's cost.
 *
 *   node --disable-warning=ExperimentalWarning bench/clients.ts [--records N] [--rounds R] [--clients kafkajs,platformatic] [--operations consume,produce,copy]
 *
 * Needs the stack and `npm run build` (it imports the product from dist/). Each sink is counted
 * afterwards with a read_committed kcat consumer and must hold exactly the source's records.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Consumer as PConsumer,
  FetchIsolationLevels,
  Producer as PProducer,
  type Message as PMessage,
  type MessageToProduce,
} from '@platformatic/kafka';
import { openServices } from '../dist/cli/services.js';
import { createLogger } from '../dist/log.js';
import type { ConsumedRecord, KafkaClient, OutRecord, Producer } from '../dist/kafka/index.js';
import { cpuSince, loadAverage, log, parseCount, round, vitestRunning } from './lib.ts';
import { createSource, measureTopic } from './source.ts';

const CHUNK = 5_000;
const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(BENCH_DIR, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}
const HEADER = 'reprocess.source';
const HEADER_KEY = Buffer.from(HEADER);

interface ClientFigures {
  client: string;
  records: number;
  wallSeconds: number;
  recordsPerSec: number;
  cpuSeconds: number;
  cpuMicrosPerRecord: number;
  transactions: number;
  sinkRecords: number;
}

/** kafkajs through the product's adapter (src/kafka/kafkajs.ts), as the replay uses it. */
async function copyKafkajs(kafka: KafkaClient, o: { source: string; sink: string; ends: Map<number, bigint>; id: string }): Promise<number> {
  const groupId = `${o.id}-kafkajs`;
  const producers = new Map<number, Producer>();
  const position = new Map<number, bigint>();
  let transactions = 0;
  const consumer = await kafka.consumer({ groupId, readCommitted: true, autoCommit: false, fromBeginning: true });
  const finished = (): boolean => [...o.ends].every(([p, end]) => (position.get(p) ?? 0n) >= end);
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  await consumer.subscribe([o.source]);
  await consumer.run({
    onBatch: async (batch, ctx) => {
      let producer = producers.get(batch.partition);
      if (!producer) producers.set(batch.partition, (producer = await kafka.producer({ transactionalId: `${groupId}-p${batch.partition}` })));
      for (let i = 0; i < batch.records.length; i += CHUNK) {
        const chunk = batch.records.slice(i, i + CHUNK);
        const last = chunk[chunk.length - 1] as ConsumedRecord;
        const out: OutRecord[] = chunk.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, partition: batch.partition, headers: { [HEADER]: `${batch.partition}:${r.offset}` } }));
        const next = i + CHUNK >= batch.records.length ? BigInt(batch.nextOffset) : BigInt(last.offset) + 1n;
        const tx = await producer.transaction();
        await tx.send(o.sink, out);
        await tx.sendOffsets(groupId, o.source, [{ partition: batch.partition, offset: next.toString() }]);
        await tx.commit();
        transactions++;
        ctx.resolveOffset(last.offset);
        position.set(batch.partition, next);
      }
      if (finished()) resolveDone();
    },
  });
  await done;
  await consumer.close();
  await Promise.all([...producers.values()].map((p) => p.close()));
  return transactions;
}

/** @platformatic/kafka used directly: its message stream, a transactional producer per partition. */
async function copyPlatformatic(brokers: string[], o: { source: string; sink: string; ends: Map<number, bigint>; id: string }): Promise<number> {
  const groupId = `${o.id}-platformatic`;
  const consumer = new PConsumer({ clientId: groupId, bootstrapBrokers: brokers, groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const producers = new Map<number, PProducer>();
  const pending = new Map<number, PMessage[]>();
  let transactions = 0;
  const position = new Map<number, bigint>();
  const flush = async (partition: number): Promise<void> => {
    const msgs = pending.get(partition);
    if (!msgs?.length) return;
    pending.set(partition, []);
    let producer = producers.get(partition);
    if (!producer) {
      producer = new PProducer({ clientId: `${groupId}-p${partition}`, bootstrapBrokers: brokers, idempotent: true, transactionalId: `${groupId}-p${partition}` });
      producers.set(partition, producer);
    }
    const out: MessageToProduce[] = msgs.map((m) => ({ topic: o.sink, partition, key: m.key, value: m.value, timestamp: m.timestamp, headers: new Map([[HEADER_KEY, Buffer.from(`${partition}:${m.offset}`)]]) }));
    const tx = await producer.beginTransaction();
    await tx.send({ messages: out, acks: -1 });
    await tx.addConsumer(consumer);
    await tx.addOffset(msgs[msgs.length - 1] as PMessage);
    await tx.commit();
    transactions++;
    position.set(partition, (msgs[msgs.length - 1] as PMessage).offset + 1n);
  };
  const stream = await consumer.consume({
    topics: [o.source], mode: 'committed', fallbackMode: 'earliest', autocommit: false, isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxBytesPerPartition: 2 * 1024 * 1024, maxWaitTime: 500,
  });
  // A partition is finished when its last record is committed: the markers after it are not messages.
  const lastRecord = new Map([...o.ends].map(([p, end]) => [p, end]));
  const finished = (): boolean => [...lastRecord].every(([p, last]) => (position.get(p) ?? 0n) >= last);
  for await (const m of stream as AsyncIterable<PMessage>) {
    let list = pending.get(m.partition);
    if (!list) pending.set(m.partition, (list = []));
    list.push(m);
    if (list.length >= CHUNK || m.offset + 1n >= (lastRecord.get(m.partition) ?? 0n)) await flush(m.partition);
    else if (stream.readableLength === 0) for (const p of pending.keys()) await flush(p);
    if (finished()) break;
  }
  await stream.close();
  await consumer.close(true);
  await Promise.all([...producers.values()].map((p) => p.close()));
  return transactions;
}

interface Held {
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
}

/** Consuming alone (kafkajs through the adapter): read_committed, every record handed over, nothing produced. */
async function consumeKafkajs(kafka: KafkaClient, o: { source: string; ends: Map<number, bigint>; id: string; keep: Held[] | null }): Promise<number> {
  const consumer = await kafka.consumer({ groupId: `${o.id}-kafkajs-consume`, readCommitted: true, autoCommit: false, fromBeginning: true });
  const position = new Map<number, bigint>();
  let batches = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  await consumer.subscribe([o.source]);
  await consumer.run({
    onBatch: async (batch, ctx) => {
      batches++;
      if (o.keep) for (const r of batch.records) o.keep.push({ partition: batch.partition, key: r.key, value: r.value, timestamp: r.timestamp, offset: r.offset });
      const last = batch.records[batch.records.length - 1];
      if (last) ctx.resolveOffset(last.offset);
      position.set(batch.partition, BigInt(batch.nextOffset));
      if ([...o.ends].every(([p, end]) => (position.get(p) ?? 0n) >= end)) resolveDone();
      await Promise.resolve();
    },
  });
  await done;
  await consumer.close();
  return batches;
}

/** Consuming alone with @platformatic/kafka's message stream. */
async function consumePlatformatic(brokers: string[], o: { source: string; ends: Map<number, bigint>; id: string }): Promise<number> {
  const groupId = `${o.id}-platformatic-consume`;
  const consumer = new PConsumer({ clientId: groupId, bootstrapBrokers: brokers, groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const stream = await consumer.consume({
    topics: [o.source], mode: 'committed', fallbackMode: 'earliest', autocommit: false, isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxBytesPerPartition: 1024 * 1024, maxWaitTime: 500,
  });
  const position = new Map<number, bigint>();
  let n = 0;
  for await (const m of stream as AsyncIterable<PMessage>) {
    n++;
    position.set(m.partition, m.offset + 1n);
    if (m.offset + 1n >= (o.ends.get(m.partition) ?? 0n) && [...o.ends].every(([p, end]) => (position.get(p) ?? 0n) >= end)) break;
  }
  await stream.close();
  await consumer.close(true);
  return n;
}

/** Transactional producing alone: held records, one producer per source partition, a transaction per CHUNK, no offsets. */
async function produceKafkajs(kafka: KafkaClient, o: { sink: string; held: Map<number, Held[]>; id: string }): Promise<number> {
  let transactions = 0;
  await Promise.all([...o.held].map(async ([partition, list]) => {
    const producer = await kafka.producer({ transactionalId: `${o.id}-kafkajs-produce-p${partition}` });
    for (let i = 0; i < list.length; i += CHUNK) {
      const out: OutRecord[] = list.slice(i, i + CHUNK).map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, partition, headers: { [HEADER]: `${partition}:${r.offset}` } }));
      const tx = await producer.transaction();
      await tx.send(o.sink, out);
      await tx.commit();
      transactions++;
    }
    await producer.close();
  }));
  return transactions;
}

async function producePlatformatic(brokers: string[], o: { sink: string; held: Map<number, Held[]>; id: string }): Promise<number> {
  let transactions = 0;
  await Promise.all([...o.held].map(async ([partition, list]) => {
    const id = `${o.id}-platformatic-produce-p${partition}`;
    const producer = new PProducer({ clientId: id, bootstrapBrokers: brokers, idempotent: true, transactionalId: id });
    for (let i = 0; i < list.length; i += CHUNK) {
      const out: MessageToProduce[] = list.slice(i, i + CHUNK).map((r) => ({
        topic: o.sink, partition, key: r.key ?? undefined, value: r.value ?? undefined, timestamp: BigInt(r.timestamp), headers: new Map([[HEADER_KEY, Buffer.from(`${partition}:${r.offset}`)]]),
      }));
      const tx = await producer.beginTransaction();
      await tx.send({ messages: out, acks: -1 });
      await tx.commit();
      transactions++;
    }
    await producer.close();
  }));
  return transactions;
}

const OPERATIONS = ['consume', 'produce', 'copy'] as const;
type Operation = (typeof OPERATIONS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '100000' },
      partitions: { type: 'string', default: '6' },
      clients: { type: 'string', default: 'kafkajs,platformatic' },
      operations: { type: 'string', default: OPERATIONS.join(',') },
      rounds: { type: 'string', default: '3' },
    },
  });
  const records = parseCount(values.records, '--records');
  const partitions = parseCount(values.partitions, '--partitions');
  const rounds = parseCount(values.rounds, '--rounds');
  const clients = values.clients.split(',');
  const operations = values.operations.split(',') as Operation[];
  const services = openServices(process.env, createLogger({ level: 'warn' }));
  const id = `bench-clients-${Date.now()}-${randomUUID().slice(0, 4)}`;
  const admin = await services.kafka.admin();
  const topics = [`${id}-events`];
  const load = { vitestAtStart: vitestRunning(), loadAtStart: loadAverage() };
  const startedAt = new Date();
  const brokers = services.endpoints.kafka.brokers;
  try {
    log(`source ${id}-events: ${records} records in ${partitions} partitions`);
    const src = await createSource({ kafka: services.kafka, registry: services.registry, endpoints: services.endpoints, topic: `${id}-events`, partitions, records });
    // The source was produced without transactions: its last record is at high - 1.
    const ends = new Map((await admin.watermarks(src.topic)).map((w) => [w.partition, BigInt(w.high)]));
    // The records the produce-only runs send, read once and held in memory.
    const keep: Held[] = [];
    await consumeKafkajs(services.kafka, { source: src.topic, ends, id: `${id}-hold`, keep });
    const held = new Map<number, Held[]>();
    for (const r of keep) {
      const list = held.get(r.partition) ?? [];
      if (!held.has(r.partition)) held.set(r.partition, list);
      list.push(r);
    }
    const results: (ClientFigures & { operation: Operation; round: number })[] = [];
    for (let round_ = 0; round_ < rounds; round_++) {
      // Alternate which client goes first, so neither always runs on a warmer broker.
      for (const client of round_ % 2 ? [...clients].reverse() : clients) {
        for (const operation of operations) {
          const sink = `${id}-${client}-${operation}-${round_}`;
          if (operation !== 'consume') {
            topics.push(sink);
            await admin.createTopic({ topic: sink, partitions });
          }
          const runId = `${id}-${round_}`;
          const cpu = process.cpuUsage();
          const t0 = performance.now();
          let transactions = 0;
          if (operation === 'consume') {
            if (client === 'kafkajs') await consumeKafkajs(services.kafka, { source: src.topic, ends, id: runId, keep: null });
            else await consumePlatformatic(brokers, { source: src.topic, ends, id: runId });
          } else if (operation === 'produce') {
            transactions = client === 'kafkajs' ? await produceKafkajs(services.kafka, { sink, held, id: runId }) : await producePlatformatic(brokers, { sink, held, id: runId });
          } else {
            transactions = client === 'kafkajs'
              ? await copyKafkajs(services.kafka, { source: src.topic, sink, ends, id: runId })
              : await copyPlatformatic(brokers, { source: src.topic, sink, ends, id: runId });
          }
          const wallSeconds = (performance.now() - t0) / 1000;
          const { cpuSeconds } = cpuSince(cpu);
          const sinkRecords = operation === 'consume' ? src.records : (await measureTopic(services.endpoints, sink)).records;
          if (sinkRecords !== src.records) throw new Error(`${client} ${operation}: ${sink} holds ${sinkRecords} committed records, the source ${src.records}`);
          const f = {
            client, operation, round: round_, records: src.records, wallSeconds: round(wallSeconds, 3), recordsPerSec: Math.round(src.records / wallSeconds), cpuSeconds: round(cpuSeconds, 2),
            cpuMicrosPerRecord: round((cpuSeconds * 1e6) / src.records, 1), transactions, sinkRecords,
          };
          results.push(f);
          log(`${client} ${operation}: ${f.recordsPerSec} records/s (${f.wallSeconds} s), ${f.cpuSeconds} CPU s = ${f.cpuMicrosPerRecord} µs/record, ${transactions} transactions`);
        }
      }
    }
    const median = (xs: number[]): number => {
      const v = [...xs].sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)] ?? 0;
    };
    const summary = clients.flatMap((client) => operations.map((operation) => {
      const rs = results.filter((r) => r.client === client && r.operation === operation);
      return { client, operation, medianRecordsPerSec: median(rs.map((r) => r.recordsPerSec)), medianCpuMicrosPerRecord: median(rs.map((r) => r.cpuMicrosPerRecord)) };
    }));
    for (const x of summary) log(`median of ${rounds}: ${x.client} ${x.operation}: ${x.medianRecordsPerSec} records/s, ${x.medianCpuMicrosPerRecord} µs CPU/record`);
    const file = join(BENCH_DIR, 'results', `clients-${startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
    const versions = { kafkajs: packageVersion('kafkajs'), '@platformatic/kafka': packageVersion('@platformatic/kafka') };
    writeFileSync(file, JSON.stringify({ command: `node bench/clients.ts ${process.argv.slice(2).join(' ')}`.trim(), startedAt: startedAt.toISOString(), records: src.records, partitions, rounds, versions, ...load, vitestAtEnd: vitestRunning(), loadAtEnd: loadAverage(), summary, results }, null, 2) + '\n');
    log(`wrote ${file}`);
  } finally {
    await admin.deleteTopics(topics).catch(() => undefined);
    await services.close();
  }
}

await main();
