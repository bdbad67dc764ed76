/**
 * The benchmark's input: a fresh topic holding N demo events (Confluent wire-format Avro, v1 and
 * v2 schemas mixed, keyed by user), each with three more fields than the example's schemas have
 * (a session id, the page and the client's user agent) so that an event is about 200 bytes as
 * real engagement events are, and job specs that replay it with the example's transform,
 * upcasters and output schema.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DEMO_HISTORY, exampleDir, generateEvents, mulberry32, produceEvents, randomUuid, readSchema, type EventSchemas, type GeneratedEvent } from '../dist/demo/index.js';
import type { Endpoints } from '../dist/config/endpoints.js';
import type { KafkaClient } from '../dist/kafka/index.js';
import type { RegistryClient } from '../dist/registry/index.js';

export interface SourceTopic {
  topic: string;
  partitions: number;
  records: number;
  /** Key + value bytes of every record, as stored. */
  bytes: number;
  avgRecordBytes: number;
  byVersion: Record<number, number>;
  produceSeconds: number;
}

/**
 * Fields the benchmark's events carry beyond the example's schemas. The example's transform does
 * not read them: they are decoded (and copied by its upcaster) and dropped, as fields a dataset
 * does not need are.
 */
const EXTRA_FIELDS = [
  { name: 'session_id', type: 'string', doc: 'The client session the event belongs to (a UUID).' },
  { name: 'page', type: 'string', doc: 'Path of the page or screen the event happened on, with its referrer tag.' },
  { name: 'user_agent', type: 'string', doc: 'The client: app name and version, or browser, and its platform.' },
];

/** events-v1 and events-v2 with EXTRA_FIELDS appended. */
export function benchSchemas(): EventSchemas {
  const widen = (s: Record<string, unknown>): Record<string, unknown> => ({ ...s, fields: [...(s.fields as object[]), ...EXTRA_FIELDS] });
  return { 1: widen(readSchema(1)), 2: widen(readSchema(2)) };
}

const AGENTS = [
  'ShopApp/7.12.0 (Android 14)', 'ShopApp/7.12.1 (iOS 18.1)', 'ShopApp/7.11.4 (Android 13)',
  'Mozilla/5.0 (Windows NT 10.0) Chrome/131', 'Mozilla/5.0 (Macintosh) Safari/18.1', 'Mozilla/5.0 (X11; Linux) Firefox/133',
];
const REFERRERS = ['home', 'search', 'email', 'ad', 'social', 'direct'];

/** The first `count` events of the demo history, spread evenly over its 91 days, with EXTRA_FIELDS filled in. */
export function* demoEvents(count: number): Generator<GeneratedEvent> {
  const perDay = Math.ceil(count / DEMO_HISTORY.days);
  const rand = mulberry32(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  let n = 0;
  for (const e of generateEvents({ start: DEMO_HISTORY.start, days: DEMO_HISTORY.days, perDay, cutover: DEMO_HISTORY.cutover, seed: 42 })) {
    if (n++ >= count) return;
    e.event.session_id = randomUuid(rand);
    e.event.page = `/${String(e.event.product_category)}/p/${100000 + Math.floor(rand() * 900000)}?ref=${pick(REFERRERS)}`;
    e.event.user_agent = pick(AGENTS);
    yield e;
  }
}

export async function createSource(o: { kafka: KafkaClient; registry: RegistryClient; endpoints: Endpoints; topic: string; partitions: number; records: number; onProgress?: (n: number) => void }): Promise<SourceTopic> {
  const started = performance.now();
  // The events span 91 days of event time but are produced in seconds. Kafka rolls a segment
  // when its records' timestamps span log.roll.ms (7 days), and a fetch never reads past the end
  // of a segment, so with the broker's default this topic would be cut into 13 segments per
  // partition of a few hundred kB and every consumer would get batches of that size. A real
  // topic holding 90 days has segments of gigabytes (one per 7 days of production); rolling by
  // size only gives the benchmark the fetch sizes such a topic gives.
  await (await o.kafka.admin()).createTopic({ topic: o.topic, partitions: o.partitions, configs: { 'retention.ms': '-1', 'segment.ms': String(10 * 365 * 86_400_000) } });
  const produced = await produceEvents({
    client: o.kafka,
    registry: o.registry,
    ...(o.endpoints.registry.auth ? { registryAuth: o.endpoints.registry.auth } : {}),
    topic: o.topic,
    partitions: o.partitions,
    schemas: benchSchemas(),
    events: demoEvents(o.records),
    batchSize: 2000,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const produceSeconds = (performance.now() - started) / 1000;
  // Count what the broker holds rather than trusting the producer: the copy baseline and every
  // replay are checked against these numbers.
  const stored = await measureTopic(o.endpoints, o.topic);
  if (stored.records !== produced.produced) throw new Error(`${o.topic} holds ${stored.records} records, ${produced.produced} were produced`);
  return {
    topic: o.topic,
    partitions: produced.partitions,
    records: stored.records,
    bytes: stored.bytes,
    avgRecordBytes: Math.round((stored.bytes / stored.records) * 10) / 10,
    byVersion: produced.byVersion,
    produceSeconds: Math.round(produceSeconds * 100) / 100,
  };
}

// ───────────────────────── kcat ─────────────────────────

/** kcat's connection arguments for the configured cluster; credentials go in a 0600 file, not argv. */
export function kcatArgs(endpoints: Endpoints): string[] {
  const k = endpoints.kafka;
  const props: string[] = [];
  if (k.sasl || k.ssl) {
    props.push(`security.protocol=${k.sasl ? (k.ssl ? 'SASL_SSL' : 'SASL_PLAINTEXT') : 'SSL'}`);
    if (k.sasl) props.push(`sasl.mechanisms=${k.sasl.mechanism.toUpperCase()}`, `sasl.username=${k.sasl.username}`, `sasl.password=${k.sasl.password}`);
    if (k.ssl && process.env.KAFKA_SSL_CA_FILE) props.push(`ssl.ca.location=${process.env.KAFKA_SSL_CA_FILE}`);
  }
  const args = ['-b', k.brokers.join(',')];
  if (props.length) {
    const file = join(mkdtempSync(join(tmpdir(), 'bench-kcat-')), 'kcat.conf');
    writeFileSync(file, props.join('\n') + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    args.push('-F', file);
  }
  return args;
}

/** Records and key+value bytes of a (non-transactional) topic, read with kcat. */
export function measureTopic(endpoints: Endpoints, topic: string): Promise<{ records: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', [...kcatArgs(endpoints), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%K %S\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let records = 0;
    let bytes = 0;
    let rest = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [k, v] = line.split(' ').map(Number);
        records++;
        bytes += Math.max(0, k ?? 0) + Math.max(0, v ?? 0);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ records, bytes }) : reject(new Error(`kcat exited with ${String(code)}: ${err.trim()}`))));
  });
}

// ───────────────────────── job specs ─────────────────────────

/**
 * examples/user_engagement/job.yaml with the bench's source topic, dataset and version, the demo
 * history's window, no rate limit, and every path made absolute (the example's transform,
 * upcasters, schemas). Written to a temp folder; returns the file's path.
 */
export function writeJob(o: { dir: string; sourceTopic: string; dataset: string; version: number; rate?: number | null }): string {
  const example = exampleDir();
  const job = parse(readFileSync(join(example, 'job.yaml'), 'utf8')) as Record<string, unknown>;
  const abs = (p: unknown): string => join(example, String(p));
  const source = job.source as Record<string, unknown>;
  const upcast = job.upcast as Record<string, unknown>;
  const output = job.output as Record<string, unknown>;
  const validate = job.validate as Record<string, unknown> | undefined;
  job.dataset = o.dataset;
  job.version = o.version;
  source.topic = o.sourceTopic;
  source.from = new Date(DEMO_HISTORY.start).toISOString();
  source.to = new Date(DEMO_HISTORY.start + DEMO_HISTORY.days * 86_400_000).toISOString();
  if (typeof upcast.module === 'string') upcast.module = abs(upcast.module);
  job.transform = abs(job.transform);
  output.schema = abs(output.schema);
  if (validate && typeof validate.expected === 'string') validate.expected = abs(validate.expected);
  if (o.rate === undefined || o.rate === null) delete job.rate;
  else job.rate = { records: o.rate };
  // The bench writes throw-away versions; no promotion.
  job.promote = 'manual';
  const path = join(o.dir, `job-v${String(o.version)}.yaml`);
  writeFileSync(path, `# Generated by bench/run.ts from examples/user_engagement/job.yaml\n${stringify(job)}`);
  return path;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'reprocess-bench-'));
}
