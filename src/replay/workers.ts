import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LegacyIdsOptions } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import { rawView, type RawView } from '../kafka/kafkajs-records.js';
import type { EncodedBatch } from '../kafka/index.js';
import type { ChunkTally } from '../metrics/replay.js';
import type { SchemaEntry, SourceDecoder } from './codec.js';
import type { ChunkFailure, ChunkRecords, EncodedChunk, SourceRecord } from './process.js';

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
 * A chunk's records: keys and values in one buffer, four int32 per record (key start, key length
 * or -1, value start, value length or -1), offsets and timestamps as numbers where the client read
 * them as such (the bytes then one copy of the stretch of the fetch response they lie in), else as
 * decimal strings.
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

const size = (b: Buffer | null): number => (b === null ? 0 : b.length);

/**
 * Where the records lie when all lie in one memory block (the fetch response; each record batch of
 * it is a Buffer of its own over the same block), in order, within `limit` bytes: the block, the
 * records' views and each record's distance from its view's Buffer to the block's start. Else null.
 */
function contiguous(records: readonly SourceRecord[], limit: number): { block: ArrayBufferLike; views: RawView[]; bases: Int32Array; from: number; to: number } | null {
  const views: RawView[] = new Array(records.length);
  const bases = new Int32Array(records.length);
  let block: ArrayBufferLike | null = null;
  let from = -1;
  let to = -1;
  for (let n = 0; n < records.length; n++) {
    const v = rawView(records[n]);
    if (v === null || (block !== null && v.buffer.buffer !== block)) return null;
    block = v.buffer.buffer;
    const base = v.buffer.byteOffset;
    const start = base + (v.keyLength < 0 ? v.valueStart : v.keyStart);
    if (start < to) return null;
    if (from < 0) from = start;
    to = base + v.valueStart + Math.max(v.valueLength, 0);
    if (to - from > limit) return null;
    views[n] = v;
    bases[n] = base;
  }
  return block === null ? null : { block, views, bases, from, to };
}

export function packChunk(records: readonly SourceRecord[], partition: number): PackedChunk {
  // Records read in place (kafkajs-records.ts): one copy of the stretch they lie in, which holds
  // little besides them (each record's few bytes of lengths and deltas, the batch headers).
  const span = records.length > 0 ? contiguous(records, 64 * 1024 * 1024) : null;
  if (span !== null) {
    const { block, views, bases, from, to } = span;
    const bytes = new Uint8Array(new ArrayBuffer(to - from));
    bytes.set(new Uint8Array(block, from, to - from));
    const index = new Int32Array(records.length * 4);
    const offsets = new Float64Array(records.length);
    const timestamps = new Float64Array(records.length);
    for (let n = 0; n < views.length; n++) {
      const v = views[n] as RawView;
      const at = (bases[n] as number) - from;
      const i = n * 4;
      index[i] = at + v.keyStart;
      index[i + 1] = v.keyLength < 0 ? -1 : v.keyLength;
      index[i + 2] = at + v.valueStart;
      index[i + 3] = v.valueLength < 0 ? -1 : v.valueLength;
      offsets[n] = v.offset;
      timestamps[n] = v.timestamp;
    }
    return { partition, offsets, timestamps, bytes: bytes.buffer, index };
  }
  let total = 0;
  for (const r of records) total += size(r.key) + size(r.value);
  const bytes = new Uint8Array(new ArrayBuffer(total));
  const index = new Int32Array(records.length * 4);
  // Numbers where every offset and timestamp is one exactly (as a record read in place has them), else the client's text.
  const offsetNumbers = new Float64Array(records.length);
  const timestampNumbers = new Float64Array(records.length);
  let numbers = true;
  let at = 0;
  const put = (b: Buffer | null, i: number): void => {
    index[i] = at;
    if (b === null) {
      index[i + 1] = -1;
      return;
    }
    bytes.set(b, at);
    index[i + 1] = b.length;
    at += b.length;
  };
  for (let n = 0; n < records.length; n++) {
    const r = records[n] as SourceRecord;
    put(r.key, n * 4);
    put(r.value, n * 4 + 2);
    const v = rawView(r);
    if (v !== null) {
      offsetNumbers[n] = v.offset;
      timestampNumbers[n] = v.timestamp;
    } else if (numbers) {
      const o = Number(r.offset);
      const t = Number(r.timestamp);
      numbers = exact(o, r.offset) && exact(t, r.timestamp);
      offsetNumbers[n] = o;
      timestampNumbers[n] = t;
    }
  }
  if (numbers) return { partition, offsets: offsetNumbers, timestamps: timestampNumbers, bytes: bytes.buffer, index };
  return { partition, offsets: records.map((r) => r.offset), timestamps: records.map((r) => r.timestamp), bytes: bytes.buffer, index };
}

/** True when `n` is the whole number `text` says, exactly. */
const exact = (n: number, text: string): boolean => Number.isSafeInteger(n) && String(n) === text;

/** The chunk's records as processChunk reads them, over the chunk's buffer (no copy, no object per record). */
export function unpackChunk(p: PackedChunk): ChunkRecords {
  return { buffer: Buffer.from(p.bytes), index: p.index, offsets: p.offsets, timestamps: p.timestamps };
}

/** Records as processChunk reads them, for processing on the thread that holds them (one copy of their bytes). */
export function chunkRecords(records: readonly SourceRecord[]): ChunkRecords {
  return unpackChunk(packChunk(records, 0));
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
  process(records: readonly SourceRecord[], partition: number): Promise<EncodedChunk> {
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
