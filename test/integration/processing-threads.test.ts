import { afterAll, describe, expect, it } from 'vitest';
import { buildUpcastChain, loadJobSpec } from '../../src/core/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { SinkEncoder, SourceDecoder } from '../../src/replay/codec.js';
import { loadTransform } from '../../src/replay/modules.js';
import { decodeEncodedBatch } from '../../src/kafka/record-batch.js';
import { processChunk, type ChunkEnv, type EncodedChunk } from '../../src/replay/process.js';
import { ProcessingPool } from '../../src/replay/workers.js';
import { columnsOf } from '../../src/kafka/columns.js';
import { readAll } from '../support/consume.js';
import { testEndpoints, testKafka } from '../support/env.js';
import { createSource, makeEvents, writeJob, type JobDir } from '../support/replay-fixture.js';

const kafka = testKafka();
const jobs: JobDir[] = [];
afterAll(async () => {
  for (const j of jobs) j.cleanup();
  await kafka.client.close();
});

/** A result with its buffers as plain bytes, so results from either side compare by value. */
const plain = (r: EncodedChunk) => ({
  taken: r.taken,
  batches: r.batches.map((b) => ({
    partition: b.partition, count: b.count, firstTimestamp: b.firstTimestamp, maxTimestamp: b.maxTimestamp, crc: b.crc, bytes: b.bytes,
    records: decodeEncodedBatch(b).map((o) => ({ key: o.key?.toString('hex') ?? null, value: o.value?.toString('hex') ?? null, timestamp: o.timestamp, source: o.headers['reprocess.source']?.toString() })),
  })),
  failures: r.failures,
  tally: { ...r.tally, decodeErrors: [...r.tally.decodeErrors].sort() },
});

describe('processing threads', () => {
  it('turn a chunk into exactly what the main thread makes of it: sink batches, failures and counts', async () => {
    const source = await createSource(kafka.client, makeEvents(600, { 5: 'bad-magic', 17: 'truncated', 33: 'unknown-schema-id', 60: 'unknown-version' }), { partitions: 2 });
    const job = writeJob(source);
    jobs.push(job);
    const spec = await loadJobSpec(job.spec);
    const registry = new RegistryClient({ endpoint: testEndpoints().registry });
    const latestVersion = 2;
    const upcast = buildUpcastChain({ legacyIds: spec.upcast.legacyIds, modules: null, versionField: spec.source.versionField, latestVersion });
    const decoder = new SourceDecoder({ registry, subject: `${source.topic}-value`, versionField: spec.source.versionField, upcast });
    const schemaId = await registry.register(`${spec.sinkTopic}-value`, spec.outputSchema);
    const env: ChunkEnv = {
      decoder, transform: await loadTransform(spec.transformPath), encoder: new SinkEncoder(spec.outputSchema, schemaId), sourceTopic: source.topic,
      outputKey: spec.output.key, sinkPartitions: 4, maxMs: 60_000,
    };
    const pool = await ProcessingPool.start({
      transformPath: spec.transformPath, upcastModulePath: null, legacyIds: spec.upcast.legacyIds, versionField: spec.source.versionField, latestVersion,
      subject: `${source.topic}-value`, outputSchema: spec.outputSchema, sourceTopic: source.topic, outputKey: spec.output.key, maxMs: 60_000,
    }, 2, decoder);
    pool.configure({ schemaId, sinkPartitions: 4 });
    try {
      const byPartition = await readAll(kafka.client, source.topic);
      let failures = 0;
      let outputs = 0;
      for (const [partition, records] of byPartition) {
        // Two batches asking for the same schemas at once get them once, and each sees them loaded.
        await Promise.all([decoder.prepare(records.map((r) => r.value)), decoder.prepare(records.map((r) => r.value))]);
        for (let i = 0; i < records.length; i += 97) {
          const chunk = records.slice(i, i + 97);
          const [inline, threaded] = await Promise.all([processChunk(env, columnsOf(chunk), partition), pool.process(columnsOf(chunk), partition)]);
          expect(plain(threaded)).toEqual(plain(inline));
          failures += inline.failures.length;
          outputs += inline.tally.written;
          // Every output names its source record, in the chunk's order within each sink partition.
          for (const b of inline.batches) {
            const sources = decodeEncodedBatch(b).map((o) => BigInt(String(o.headers['reprocess.source']).split(':')[1] ?? ''));
            expect(sources).toEqual([...sources].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
            expect(String(decodeEncodedBatch(b)[0]?.headers['reprocess.source'])).toMatch(new RegExp(`^${partition}:`));
          }
        }
      }
      // 4 poison records and the transform's refusals (n % 97 === 13) failed; the rest came out.
      const refused = source.events.filter((e) => e.n % 97 === 13 && !e.poison).length;
      expect(failures).toBe(4 + refused);
      expect(outputs).toBe(600 - failures);
      expect(new Set(decoder.entries().map((e) => e.id)).size).toBe(decoder.entries().length);
    } finally {
      await pool.close();
    }
  });

  it('a transform that cannot be loaded fails the start with the loader\'s message', async () => {
    const decoder = new SourceDecoder({ subject: 'x-value', versionField: 'schema_version', upcast: (event) => ({ event }) as never });
    await expect(ProcessingPool.start({
      transformPath: '/nonexistent/transform.mjs', upcastModulePath: null, legacyIds: null, versionField: 'schema_version', latestVersion: 1,
      subject: 'x-value', outputSchema: { type: 'record', name: 'R', fields: [] }, sourceTopic: 'x', outputKey: null, maxMs: 1000,
    }, 1, decoder)).rejects.toThrow(/transform \(\/nonexistent\/transform\.mjs\) could not be loaded/);
  });
});
