/**
 * A processing thread (see workers.ts): builds the job's decoder, upcast chain, transform and
 * encoder once, then turns each chunk it is sent into outputs and failures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildUpcastChain } from '../core/index.js';
import { serveRequests } from '../util/threads.js';
import { SinkEncoder, SourceDecoder } from './codec.js';
import { loadTransform, loadUpcasters } from './modules.js';
import { processChunk, type ChunkEnv } from './process.js';
import { packResult, unpackChunk, type PackedResult, type ToWorker, type WorkerInit } from './workers.js';

const port = parentPort;
if (!port) throw new Error('process-worker.js runs as a worker thread of a replay');
const init = workerData as WorkerInit;

serveRequests<ToWorker, PackedResult>(port, async () => {
  const transform = await loadTransform(init.transformPath);
  const upcasters = init.upcastModulePath ? await loadUpcasters(init.upcastModulePath) : null;
  const upcast = buildUpcastChain({ legacyIds: init.legacyIds, modules: upcasters, versionField: init.versionField, latestVersion: init.latestVersion });
  const decoder = new SourceDecoder({ subject: init.subject, versionField: init.versionField, upcast });
  let env: ChunkEnv | null = null;
  // The sink comes before the first chunk.
  return async (m) => {
    if (m.type === 'sink') {
      env = {
        decoder, transform, encoder: new SinkEncoder(init.outputSchema, m.sink.schemaId), sourceTopic: init.sourceTopic,
        outputKey: init.outputKey, sinkPartitions: m.sink.sinkPartitions, maxMs: init.maxMs,
      };
      return null;
    }
    if (!env) throw new Error('a chunk came before the sink was configured');
    decoder.install(m.schemas);
    const packed = packResult(await processChunk(env, unpackChunk(m.chunk), m.chunk.partition));
    return { result: packed, transfer: [packed.bytes, packed.batches.buffer as ArrayBuffer] };
  };
});
