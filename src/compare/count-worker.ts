/** A counting thread (see counting.ts): counts each batch it is sent with the schemas sent before it. */
import { parentPort, workerData } from 'node:worker_threads';
import { serveRequests } from '../util/threads.js';
import { SchemaCounter, unpackBatch, type Counted, type CountingInit, type ToCounter } from './counting.js';

const port = parentPort;
if (!port) throw new Error('count-worker.js runs as a worker thread of a comparison');
const init = workerData as CountingInit;

serveRequests<ToCounter, Counted>(port, () => {
  const counter = new SchemaCounter(init);
  return Promise.resolve((m: ToCounter) => {
    if (m.type === 'schemas') {
      counter.install(m.schemas);
      return Promise.resolve(null);
    }
    const counts = counter.count(unpackBatch(m.batch), m.topic, m.partition);
    return Promise.resolve({ result: { counts, memory: m.batch.memory }, transfer: [counts.keys.buffer as ArrayBuffer, m.batch.memory] });
  });
});
