/**
 * The I/O ceiling: copy the source topic byte for byte with kcat (librdkafka, C), consumer piped
 * into producer, no decoding. With librdkafka's default settings the copy is not the ceiling: its
 * consumer stops fetching once a small local queue is full and waits on it, so the copy ran at a
 * quarter to a third of what the broker serves. THROUGHPUT lets the consumer fetch big and keep
 * fetching; that copy is the baseline, the default one is kept for reference. Binary Avro values hold any byte (newlines, NULs), so records are
 * framed with random alphanumeric delimiters (-K for the key, -D for the message), which kcat
 * accepts as multi-byte strings on both sides; the copy is then counted and byte-summed against
 * the source, so a delimiter that did occur inside a value would show as a failed check.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Endpoints } from '../dist/config/endpoints.js';
import type { KafkaClient } from '../dist/kafka/index.js';
import { figures, processCpuSeconds, readGnuTime, round, type PhaseFigures } from './lib.ts';
import { kcatArgs, measureTopic, type SourceTopic } from './source.ts';

/** librdkafka consumer settings for the ceiling: large fetches, a short fetch wait, a deep local queue. */
export const THROUGHPUT_CONSUMER = [
  'fetch.max.bytes=52428800',
  'max.partition.fetch.bytes=10485760',
  'fetch.wait.max.ms=10',
  'queued.min.messages=1000000',
  'queued.max.messages.kbytes=1048576',
];

export interface RawCopyResult extends PhaseFigures {
  method: string;
  /** librdkafka settings given to the consuming kcat (-X); none means librdkafka's defaults. */
  consumerSettings?: string[];
  consumer: { cpuSeconds: number; peakRssMiB: number };
  producer: { cpuSeconds: number; peakRssMiB: number };
  verified: { records: number; bytes: number };
  /** records/s of every copy of the run when it made several (this result is their median). */
  runs?: number[];
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
const delimiter = (n: number): string => randomBytes(n).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, n);

export async function rawCopy(o: { endpoints: Endpoints; kafka: KafkaClient; source: SourceTopic; sinkTopic: string; dir: string; brokerPid: number | null; consumerSettings: string[] }): Promise<RawCopyResult> {
  const admin = await o.kafka.admin();
  await admin.createTopic({ topic: o.sinkTopic, partitions: o.source.partitions, configs: { 'retention.ms': '-1' } });
  const conn = kcatArgs(o.endpoints).map(q).join(' ');
  const keyDelim = `K${delimiter(15)}`;
  const msgDelim = `M${delimiter(23)}`;
  const tc = join(o.dir, 'kcat-consumer.time');
  const tp = join(o.dir, 'kcat-producer.time');
  const time = (file: string): string => `/usr/bin/time -f '%e %U %S %M' -o ${q(file)}`;
  const script = [
    'set -o pipefail',
    `${time(tc)} kcat ${conn} ${o.consumerSettings.map((x) => `-X ${q(x)}`).join(' ')} -C -t ${q(o.source.topic)} -o beginning -e -q -f ${q(`%k${keyDelim}%s${msgDelim}`)}` +
      ` | ${time(tp)} kcat ${conn} -P -t ${q(o.sinkTopic)} -K ${q(keyDelim)} -D ${q(msgDelim)} -X partitioner=murmur2_random`,
  ].join('\n');

  const broker0 = o.brokerPid ? processCpuSeconds(o.brokerPid) : null;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`kcat copy exited with ${String(code)}: ${err.trim()}`))));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const broker1 = o.brokerPid ? processCpuSeconds(o.brokerPid) : null;
  const consumer = readGnuTime(tc);
  const producer = readGnuTime(tp);

  const copied = await measureTopic(o.endpoints, o.sinkTopic);
  if (copied.records !== o.source.records || copied.bytes !== o.source.bytes) {
    throw new Error(`the kcat copy holds ${copied.records} records / ${copied.bytes} bytes; the source ${o.source.records} / ${o.source.bytes} (a delimiter occurred in the data?)`);
  }
  return {
    ...figures({
      records: o.source.records,
      bytes: o.source.bytes,
      wallSeconds,
      cpuSeconds: consumer.cpuSeconds + producer.cpuSeconds,
      peakRssBytes: Math.max(consumer.peakRssBytes, producer.peakRssBytes),
      brokerCpuSeconds: broker0 !== null && broker1 !== null ? broker1 - broker0 : null,
    }),
    method: `kcat -C${o.consumerSettings.length ? ` ${o.consumerSettings.map((x) => `-X ${x}`).join(' ')}` : ''} (-f '%k<K>%s<M>') | kcat -P (-K <K> -D <M>), random ${keyDelim.length}/${msgDelim.length}-char delimiters; copy verified by count and bytes`,
    consumerSettings: o.consumerSettings,
    consumer: { cpuSeconds: round(consumer.cpuSeconds), peakRssMiB: round(consumer.peakRssBytes / 1048576, 1) },
    producer: { cpuSeconds: round(producer.cpuSeconds), peakRssMiB: round(producer.peakRssBytes / 1048576, 1) },
    verified: copied,
  };
}
