/**
 * A processing thread (see workers.ts): builds the job's decoder, upcast chain, transform and
 * encoder once, then turns each chunk it is sent into outputs and failures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildUpcastChain } from '../core/index.js';
import { ReprocessError, errorMessage } from '../errors.js';
import { SinkEncoder, SourceDecoder } from './codec.js';
import { loadTransform, loadUpcasters } from './modules.js';
import { processChunk, type ChunkEnv } from './process.js';
import { packResult, unpackChunk, type FromWorker, type ToWorker, type WorkerInit } from './workers.js';

const port = parentPort;
if (!port) throw new Error('process-worker.js runs as a worker thread of a replay');
const init = workerData as WorkerInit;

const describe = (err: unknown): Extract<FromWorker, { type: 'error' }>['error'] => {
  const e = err instanceof Error ? err : new Error(errorMessage(err));
  return {
    name: e.name,
    message: e.message,
    ...(e.stack ? { stack: e.stack } : {}),
    ...(err instanceof ReprocessError ? { code: err.code, ...(err.hint ? { hint: err.hint } : {}) } : {}),
  };
};

try {
  const transform = await loadTransform(init.transformPath);
  const upcasters = init.upcastModulePath ? await loadUpcasters(init.upcastModulePath) : null;
  const upcast = buildUpcastChain({ legacyIds: init.legacyIds, modules: upcasters, versionField: init.versionField, latestVersion: init.latestVersion });
  const decoder = new SourceDecoder({ subject: init.subject, versionField: init.versionField, upcast });
  let env: ChunkEnv | null = null;
  // One message at a time, in the order sent: the sink comes before the first chunk.
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    queue = queue.then(async () => {
      if (m.type === 'sink') {
        env = {
          decoder, transform, encoder: new SinkEncoder(init.outputSchema, m.sink.schemaId), sourceTopic: init.sourceTopic,
          outputKey: init.outputKey, sinkPartitions: m.sink.sinkPartitions, maxMs: init.maxMs,
        };
        return;
      }
      try {
        if (!env) throw new Error('a chunk came before the sink was configured');
        decoder.install(m.schemas);
        const records = unpackChunk(m.chunk);
        const packed = packResult(await processChunk(env, records, m.chunk.partition));
        const reply: FromWorker = { type: 'result', id: m.id, result: packed };
        port.postMessage(reply, [packed.bytes, packed.batches.buffer as ArrayBuffer]);
      } catch (err) {
        const reply: FromWorker = { type: 'error', id: m.id, error: describe(err) };
        port.postMessage(reply);
      }
    });
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
} catch (err) {
  port.postMessage({ type: 'error', id: null, error: describe(err) } satisfies FromWorker);
}
