/**
 * `node bench/processing.ts`: the replay's processing alone, on one thread, with no Kafka, Redis
 * or registry. It does what a processing thread does with each chunk (workers.ts,
 * process-worker.ts): unpack the chunk the Kafka thread sent, decode, upcast, transform, encode,
 * build the sink's record batches, pack the result. The events are the bench's (~206 bytes, two
 * schema versions, `bench/source.ts`), the job the example's.
 *
 * An end-to-end replay on a shared 2-core VM moves by ±25 % from one minute to the next, so a
 * change worth a few percent of processing cannot be seen there; here each round processes the
 * same chunks, and the fastest rounds of two builds or settings, alternated, can be compared:
 *
 *   node bench/processing.ts --records 200000 --rounds 30
 *   REPROCESS_AVSC_FASTPATH=0 node bench/processing.ts        # avsc as shipped
 *
 * Prints µs per record (fastest round, median round) and writes nothing.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import avro from 'avsc';
import { buildUpcastChain, encodeWire, loadJobSpec } from '../dist/core/index.js';
import { exampleDir } from '../dist/demo/index.js';
import { SinkEncoder, SourceDecoder } from '../dist/replay/codec.js';
import { loadTransform, loadUpcasters } from '../dist/replay/modules.js';
import { processChunk, type ChunkEnv } from '../dist/replay/process.js';
import { packResult, unpackChunk, type PackedChunk } from '../dist/replay/workers.js';
import { parseCount } from './lib.ts';
import { benchSchemas, demoEvents } from './source.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '20' },
    chunk: { type: 'string', default: '5000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write('node bench/processing.ts [--records N (200000)] [--rounds R (20)] [--chunk C (5000)]\n');
  process.exit(0);
}
const records = parseCount(values.records, '--records');
const rounds = parseCount(values.rounds, '--rounds');
const chunkSize = parseCount(values.chunk, '--chunk');

const spec = await loadJobSpec(join(exampleDir(), 'job.yaml'));
const schemas = benchSchemas();
const SCHEMA_IDS = { 1: 101, 2: 102 } as const;
const writers = { 1: avro.Type.forSchema(schemas[1] as avro.Schema), 2: avro.Type.forSchema(schemas[2] as avro.Schema) };

// The source as the Kafka thread packs it: each chunk's keys and values in one buffer, offsets
// and timestamps as numbers (packChunk in workers.ts).
const chunks: PackedChunk[] = [];
let pending: { key: Buffer; value: Buffer; timestamp: number }[] = [];
let offset = 0;
const flush = (): void => {
  const size = pending.reduce((s, r) => s + r.key.length + r.value.length, 0);
  const bytes = new Uint8Array(new ArrayBuffer(size));
  const index = new Int32Array(pending.length * 4);
  const offsets = new Float64Array(pending.length);
  const timestamps = new Float64Array(pending.length);
  let at = 0;
  pending.forEach((r, n) => {
    bytes.set(r.key, at);
    bytes.set(r.value, at + r.key.length);
    index.set([at, r.key.length, at + r.key.length, r.value.length], n * 4);
    at += r.key.length + r.value.length;
    offsets[n] = offset++;
    timestamps[n] = r.timestamp;
  });
  chunks.push({ partition: 0, offsets, timestamps, bytes: bytes.buffer, index });
  pending = [];
};
let sourceBytes = 0;
for (const e of demoEvents(records)) {
  const value = encodeWire(SCHEMA_IDS[e.version], writers[e.version].toBuffer(e.event));
  const key = Buffer.from(e.key);
  sourceBytes += key.length + value.length;
  pending.push({ key, value, timestamp: e.timestamp });
  if (pending.length === chunkSize) flush();
}
if (pending.length > 0) flush();

const upcasters = spec.upcast.modulePath ? await loadUpcasters(spec.upcast.modulePath) : null;
const upcast = buildUpcastChain({ legacyIds: spec.upcast.legacyIds, modules: upcasters, versionField: spec.source.versionField, latestVersion: 2 });
const decoder = new SourceDecoder({ subject: 'bench-value', versionField: spec.source.versionField, upcast });
decoder.install([
  { id: SCHEMA_IDS[1], schema: JSON.stringify(schemas[1]), subjectVersion: 1 },
  { id: SCHEMA_IDS[2], schema: JSON.stringify(schemas[2]), subjectVersion: 2 },
]);
const env: ChunkEnv = {
  decoder, transform: await loadTransform(spec.transformPath), encoder: new SinkEncoder(spec.outputSchema, 103),
  sourceTopic: 'bench', outputKey: spec.output.key, sinkPartitions: 6, maxMs: Number.POSITIVE_INFINITY,
};

// unpackChunk wraps the chunk's ArrayBuffer without copying it, as a thread receiving it does.
const times: number[] = [];
let written = 0;
for (let r = 0; r < rounds; r++) {
  const started = performance.now();
  written = 0;
  for (const c of chunks) {
    const out = packResult(await processChunk(env, unpackChunk(c), c.partition));
    written += out.tally.written;
  }
  times.push(((performance.now() - started) * 1000) / records);
}
if (written !== records) throw new Error(`processed ${records} records into ${written} outputs; the example's transform writes one per event`);
const sorted = [...times].sort((a, b) => a - b);
const fmt = (n: number): string => n.toFixed(3);
process.stdout.write(
  `${records} records (${(sourceBytes / records).toFixed(1)} bytes each), ${chunks.length} chunks, ${rounds} rounds: ` +
  `fastest ${fmt(sorted[0] as number)} µs/record, median ${fmt(sorted[Math.floor(sorted.length / 2)] as number)}` +
  `${process.env.REPROCESS_AVSC_FASTPATH === '0' ? ' (REPROCESS_AVSC_FASTPATH=0)' : ''}\n`,
);
