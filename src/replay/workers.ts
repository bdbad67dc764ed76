import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LegacyIdsOptions } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import type { EncodedBatch } from '../kafka/index.js';
import type { ChunkTally } from '../metrics/replay.js';
import type { SchemaEntry, SourceDecoder } from './codec.js';
import type { ChunkFailure, ChunkRecords, EncodedChunk } from './process.js';

/**
 * Processing threads: the replay's main thread does the Kafka work (fetching, producing,
 * transactions) while decoding, upcasting, transforming and encoding run on worker threads, so a
 * replay uses more than one core. Chunks cross as one transferred buffer each way (no per-record cloning,
 * and never a kafkajs buffer, whose backing store is a whole fetch response).
 */

/**
 * Two processing threads beside the main one where the machine has more than one core. A chunk
 * goes to the next thread in turn, so while one thread works on a partition's chunk the other
 * takes the next partition's; with one thread, partitions waited for it even with a core idle
 * (on a 2-core machine shared with the broker, two threads moved 9–14 % more records/s).
 */
export function defaultThreads(): number {
  return availableParallelism() > 1 ? 2 : 0;
}

/** What a processing thread loads when it starts (all cloneable). */
export interface WorkerInit {
  transformPath: string;
  upcastModulePath: string | null;
  legacyIds: LegacyIdsOptions | null;
  versionField: string;
  latestVersion: number;
  subject: string;
  outputSchema: object;
  sourceTopic: string;
  outputKey: string | null;
  maxMs: number;
}

/** What a processing thread needs once the sink exists, before its first chunk. */
export interface WorkerSink {
  schemaId: number;
  sinkPartitions: number;
}

/**
 * A chunk's records as sent: ChunkRecords (process.ts) with the keys and values in a buffer of
 * their own, to transfer.
 */
export interface PackedChunk {
  partition: number;
  offsets: string[] | Float64Array;
  timestamps: string[] | Float64Array;
  bytes: ArrayBuffer;
  index: Int32Array;
}

/**
 * A chunk's sink batches (process.ts, EncodedChunk): their records in one buffer, seven numbers per
 * batch (partition, count, first timestamp, max timestamp, CRC, start in `bytes`, byte length) and
 * its key + value bytes as an eighth.
 */
export interface PackedResult {
  taken: number;
  bytes: ArrayBuffer;
  batches: Float64Array;
  failures: ChunkFailure[];
  tally: ChunkTally;
}

export type ToWorker =
  | { type: 'sink'; sink: WorkerSink }
  | { type: 'chunk'; id: number; chunk: PackedChunk; schemas: SchemaEntry[] };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: PackedResult }
  | { type: 'error'; id: number | null; error: { name: string; message: string; code?: string; hint?: string; stack?: string } };

/** Bytes in memory of their own (to transfer), not zeroed: the caller writes every one. */
function uninitialized(size: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(b.buffer, 0, size);
}

/**
 * A chunk's records for a processing thread: their keys and values copied out of the buffer they
 * lie in (the fetch response) as one stretch, which holds little besides them (each record's few
 * bytes of lengths and deltas, the batch headers), or one by one where the stretch would be mostly
 * other bytes; the index made relative to the copy; offsets and timestamps copied (a view into the
 * Kafka thread's columns must not be transferred).
 */
export function packChunk(c: ChunkRecords, partition: number): PackedChunk {
  const count = c.offsets.length;
  const from = c.index;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  let used = 0;
  // Keys and values alike: pairs of (start, length) at even places of the index.
  for (let i = 0; i < count * 4; i += 2) {
    const length = from[i + 1] as number;
    if (length < 0) continue;
    const at = from[i] as number;
    if (at < start) start = at;
    if (at + length > end) end = at + length;
    used += length;
  }
  if (start > end) start = end = 0;
  const index = new Int32Array(count * 4);
  let bytes: Uint8Array;
  if (end - start <= 2 * used + 64 * 1024) {
    bytes = uninitialized(end - start);
    bytes.set(c.buffer.subarray(start, end));
    for (let i = 0; i < count * 4; i += 2) {
      const length = from[i + 1] as number;
      index[i] = length < 0 ? 0 : (from[i] as number) - start;
      index[i + 1] = length;
    }
  } else {
    bytes = uninitialized(used);
    let at = 0;
    for (let i = 0; i < count * 4; i += 2) {
      const length = from[i + 1] as number;
      index[i] = at;
      index[i + 1] = length;
      if (length <= 0) continue;
      bytes.set(c.buffer.subarray(from[i] as number, (from[i] as number) + length), at);
      at += length;
    }
  }
  const copy = (a: Float64Array | string[]): Float64Array | string[] => a.slice();
  return { partition, offsets: copy(c.offsets), timestamps: copy(c.timestamps), bytes: bytes.buffer as ArrayBuffer, index };
}

/** The chunk's records as processChunk reads them, over the chunk's buffer (no copy, no object per record). */
export function unpackChunk(p: PackedChunk): ChunkRecords {
  return { buffer: Buffer.from(p.bytes), index: p.index, offsets: p.offsets, timestamps: p.timestamps };
}

const FIELDS = 8;

export function packResult(r: EncodedChunk): PackedResult {
  const batches = new Float64Array(r.batches.length * FIELDS);
  r.batches.forEach((b, n) => {
    batches.set([b.partition, b.count, b.firstTimestamp, b.maxTimestamp, b.crc, b.records.byteOffset, b.records.length, b.bytes], n * FIELDS);
  });
  return { taken: r.taken, bytes: r.transfer, batches, failures: r.failures, tally: r.tally };
}

export function unpackResult(p: PackedResult): EncodedChunk {
  const batches: EncodedBatch[] = [];
  const f = p.batches;
  for (let i = 0; i < f.length; i += FIELDS) {
    batches.push({
      partition: f[i] as number, count: f[i + 1] as number, firstTimestamp: f[i + 2] as number, maxTimestamp: f[i + 3] as number, crc: f[i + 4] as number,
      records: Buffer.from(p.bytes, f[i + 5] as number, f[i + 6] as number), bytes: f[i + 7] as number,
    });
  }
  return { taken: p.taken, batches, failures: p.failures, tally: p.tally, transfer: p.bytes };
}

/** The thread's entry point: dist/replay/process-worker.js (tests running the TypeScript sources use the built one). */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/replay/process-worker.js', here) : new URL('./process-worker.js', here);
}

interface Pending {
  resolve: (r: EncodedChunk) => void;
  reject: (e: unknown) => void;
}

class Thread {
  readonly pending = new Map<number, Pending>();
  readonly sent = new Set<number>();
  failure: Error | null = null;
  constructor(readonly worker: Worker) {}
}

function toError(e: { name: string; message: string; code?: string; hint?: string }): Error {
  if (e.code) return new ReprocessError(e.code as ConstructorParameters<typeof ReprocessError>[0], e.message, e.hint ? { hint: e.hint } : {});
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

export class ProcessingPool {
  private next = 0;
  private ids = 0;
  private closed = false;

  private constructor(private readonly threads: Thread[], private readonly decoder: SourceDecoder) {}

  /** Starts `count` threads and waits until each has loaded the transform, upcasters and codecs. */
  static async start(init: WorkerInit, count: number, decoder: SourceDecoder): Promise<ProcessingPool> {
    const threads: Thread[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const worker = new Worker(workerUrl(), { workerData: init, stdout: false, stderr: false });
        const thread = new Thread(worker);
        threads.push(thread);
        await new Promise<void>((resolve, reject) => {
          const onMessage = (m: FromWorker): void => {
            if (m.type === 'ready') done(null);
            else if (m.type === 'error') done(toError(m.error));
          };
          const onError = (err: Error): void => done(err);
          const onExit = (code: number): void => done(new ReprocessError('INTERNAL', `a processing thread exited while starting (code ${code})`));
          // Only these listeners go: Worker keeps listeners of its own (removeAllListeners would stop its messages).
          const done = (err: Error | null): void => {
            worker.off('message', onMessage);
            worker.off('error', onError);
            worker.off('exit', onExit);
            if (err) reject(err);
            else resolve();
          };
          worker.on('message', onMessage);
          worker.on('error', onError);
          worker.on('exit', onExit);
        });
        // A pool that is never closed (a replay that failed while starting) must not keep the process alive.
        worker.unref();
        ProcessingPool.wire(thread);
      }
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    }
    return new ProcessingPool(threads, decoder);
  }

  private static wire(thread: Thread): void {
    const fail = (err: Error): void => {
      thread.failure ??= err;
      for (const p of thread.pending.values()) p.reject(thread.failure);
      thread.pending.clear();
    };
    thread.worker.on('message', (m: FromWorker) => {
      if (m.type === 'result') {
        const p = thread.pending.get(m.id);
        thread.pending.delete(m.id);
        p?.resolve(unpackResult(m.result));
      } else if (m.type === 'error') {
        const err = toError(m.error);
        if (m.id === null) return fail(err);
        const p = thread.pending.get(m.id);
        thread.pending.delete(m.id);
        p?.reject(err);
      }
    });
    thread.worker.on('error', (err) => fail(new ReprocessError('INTERNAL', `a processing thread failed: ${err.message}`, { cause: err })));
    thread.worker.on('exit', (code) => fail(new ReprocessError('INTERNAL', `a processing thread exited (code ${code})`)));
  }

  /** Tells every thread the sink's schema id and partitions; call once, before the first chunk. */
  configure(sink: WorkerSink): void {
    for (const t of this.threads) t.worker.postMessage({ type: 'sink', sink } satisfies ToWorker);
  }

  /** Processes a chunk on the next thread. The decoder must have prepared the chunk's schemas. */
  process(records: ChunkRecords, partition: number): Promise<EncodedChunk> {
    if (this.closed) return Promise.reject(new ReprocessError('INTERNAL', 'the processing threads were closed'));
    const thread = this.threads[this.next++ % this.threads.length] as Thread;
    if (thread.failure) return Promise.reject(thread.failure);
    const schemas = this.decoder.entries().filter((e) => !thread.sent.has(e.id));
    for (const e of schemas) thread.sent.add(e.id);
    const chunk = packChunk(records, partition);
    const id = ++this.ids;
    return new Promise<EncodedChunk>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      const message: ToWorker = { type: 'chunk', id, chunk, schemas };
      const transfer = [chunk.bytes, chunk.index.buffer as ArrayBuffer];
      if (chunk.offsets instanceof Float64Array) transfer.push(chunk.offsets.buffer as ArrayBuffer, (chunk.timestamps as Float64Array).buffer as ArrayBuffer);
      thread.worker.postMessage(message, transfer);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
