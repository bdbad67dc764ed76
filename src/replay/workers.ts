import { availableParallelism } from 'node:os';
import type { LegacyIdsOptions } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import { RequestThread, threadUrl } from '../util/threads.js';
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
 * Processing threads beside the main one: none on one core, one on two cores, two on more. A chunk
 * goes to the next thread in turn, so while one thread works on a partition's chunk another takes
 * the next partition's. On two cores (shared with the broker in the benchmark), one thread beside
 * the Kafka thread moved as many records per second as two for 5–15 % less CPU, and under
 * `--single-threaded-gc` (which the CLI gives itself there, util/node-flags.ts) 5–15 % more for
 * 10–15 % less CPU: three busy threads took turns on two cores.
 */
export function defaultThreads(): number {
  const cores = availableParallelism();
  return cores <= 1 ? 0 : cores === 2 ? 1 : 2;
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

/** Bytes in memory of their own (to transfer), not zeroed: the caller writes every one. */
function uninitialized(size: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(b.buffer, 0, size);
}

/** Where a chunk's keys and values lie, and how they are copied out (packChunk, copyRecordBytes). */
export interface RecordBytes {
  start: number;
  end: number;
  /** Bytes of keys and values. */
  used: number;
  /** Copied one by one (the stretch [start, end) would be mostly other bytes), else as that stretch. */
  compact: boolean;
  /** Bytes the copy takes. */
  size: number;
}

/**
 * Where the keys and values of `c` lie in its buffer (the fetch response): one stretch that holds
 * little besides them (each record's few bytes of lengths and deltas, the batch headers) is copied
 * whole; where the stretch would be mostly other bytes, they are copied one by one.
 */
export function recordBytes(c: ChunkRecords): RecordBytes {
  const from = c.index;
  const count = c.offsets.length;
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
  const compact = end - start > 2 * used + 64 * 1024;
  return { start, end, used, compact, size: compact ? used : end - start };
}

/** Copies the keys and values of `c` into `out` from `at` (span.size bytes), and their index relative to `out` into `index`. */
export function copyRecordBytes(c: ChunkRecords, span: RecordBytes, out: Uint8Array, at: number, index: Int32Array): void {
  const from = c.index;
  const count = c.offsets.length;
  if (!span.compact) {
    out.set(c.buffer.subarray(span.start, span.end), at);
    const shift = at - span.start;
    for (let i = 0; i < count * 4; i += 2) {
      const length = from[i + 1] as number;
      index[i] = length < 0 ? 0 : (from[i] as number) + shift;
      index[i + 1] = length;
    }
    return;
  }
  for (let i = 0; i < count * 4; i += 2) {
    const length = from[i + 1] as number;
    index[i] = at;
    index[i + 1] = length;
    if (length <= 0) continue;
    out.set(c.buffer.subarray(from[i] as number, (from[i] as number) + length), at);
    at += length;
  }
}

/**
 * A chunk's records for a processing thread: their keys and values copied out of the buffer they
 * lie in (recordBytes), the index made relative to the copy; offsets and timestamps copied (a view
 * into the Kafka thread's columns must not be transferred).
 */
export function packChunk(c: ChunkRecords, partition: number): PackedChunk {
  const span = recordBytes(c);
  const bytes = uninitialized(span.size);
  const index = new Int32Array(c.offsets.length * 4);
  copyRecordBytes(c, span, bytes, 0, index);
  const copy = (a: Float64Array | string[]): Float64Array | string[] => a.slice();
  return { partition, offsets: copy(c.offsets), timestamps: copy(c.timestamps), bytes: bytes.buffer as ArrayBuffer, index };
}

/** What a packed chunk moves to its thread (all its own memory). */
export function transferOf(chunk: PackedChunk): ArrayBuffer[] {
  const transfer = [chunk.bytes, chunk.index.buffer as ArrayBuffer];
  if (chunk.offsets instanceof Float64Array) transfer.push(chunk.offsets.buffer as ArrayBuffer, (chunk.timestamps as Float64Array).buffer as ArrayBuffer);
  return transfer;
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

export class ProcessingPool {
  private next = 0;
  private closed = false;
  /** Per thread, the schema ids it was sent. */
  private readonly sent: Set<number>[];

  private constructor(private readonly threads: RequestThread<PackedResult>[], private readonly decoder: SourceDecoder) {
    this.sent = threads.map(() => new Set());
  }

  /** Starts `count` threads and waits until each has loaded the transform, upcasters and codecs. */
  static async start(init: WorkerInit, count: number, decoder: SourceDecoder): Promise<ProcessingPool> {
    return new ProcessingPool(await RequestThread.startAll<PackedResult>(count, threadUrl(import.meta.url, 'replay', 'process-worker'), init, 'processing'), decoder);
  }

  /** Tells every thread the sink's schema id and partitions; call once, before the first chunk. */
  configure(sink: WorkerSink): void {
    for (const t of this.threads) t.post({ type: 'sink', sink } satisfies ToWorker);
  }

  /** Processes a chunk on the next thread. The decoder must have prepared the chunk's schemas. */
  async process(records: ChunkRecords, partition: number): Promise<EncodedChunk> {
    if (this.closed) throw new ReprocessError('INTERNAL', 'the processing threads were closed');
    const n = this.next++ % this.threads.length;
    const thread = this.threads[n] as RequestThread<PackedResult>;
    if (thread.failure) throw thread.failure;
    const sent = this.sent[n] as Set<number>;
    const schemas = this.decoder.entries().filter((e) => !sent.has(e.id));
    for (const e of schemas) sent.add(e.id);
    const chunk = packChunk(records, partition);
    return unpackResult(await thread.request((id) => ({ type: 'chunk', id, chunk, schemas }) satisfies ToWorker, transferOf(chunk)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}
