/**
 * Where the comparison counts its batches: on counting threads beside the aggregator's main
 * thread, which then only fetches, and sends counts to Redis, while the threads read the records
 * (counter.ts); or on the main thread itself (0 threads: a one-core machine). Each batch crosses
 * in one buffer of memory that is lent to the thread and comes back with the batch's counts, to
 * carry a later batch: the main thread allocates no memory per batch for the crossing (fresh
 * memory for every batch, some 200 MB per million records, made its collector run half as long
 * again).
 */
import { availableParallelism } from 'node:os';
import avro from 'avsc';
import type { RecordColumns } from '../kafka/index.js';
import type { ChunkRecords } from '../replay/process.js';
import { copyRecordBytes, recordBytes } from '../replay/workers.js';
import { RequestThread, threadUrl } from '../util/threads.js';
import { BatchCounter, type BatchCounts, type CounterOptions, type CountSpec, type SchemaReader } from './counter.js';

/**
 * One counting thread where the machine has more than one core: the main thread's own work per
 * record (fetching, Redis) is about what counting takes, so one thread splits it in two.
 */
export function defaultCountingThreads(): number {
  return availableParallelism() > 1 ? 1 : 0;
}

/** A writer schema the records may have been written with: its registry id and its JSON. */
export interface CountSchema {
  id: number;
  schema: string;
}

export interface CountingInit {
  spec: CountSpec;
  options: CounterOptions;
}

/**
 * A batch's records in one buffer of memory: per record four int32 (key start, key length or -1,
 * value start, value length or -1; starts in `memory`) from byte 0, offsets as float64 from byte
 * 16 × count, timestamps from 24 × count, then the keys' and values' bytes from 32 × count.
 */
export interface PackedBatch {
  memory: ArrayBuffer;
  count: number;
  /** Offsets and timestamps as decimal texts where a number cannot hold each exactly (then not in memory). */
  offsets: string[] | null;
  timestamps: string[] | null;
}

/** Packs `c` into memory `take(size)` gives (at least `size` bytes). */
export function packBatch(c: ChunkRecords, take: (size: number) => ArrayBuffer): PackedBatch {
  const count = c.offsets.length;
  const span = recordBytes(c);
  const memory = take(32 * count + span.size);
  copyRecordBytes(c, span, new Uint8Array(memory), 32 * count, new Int32Array(memory, 0, 4 * count));
  const numbers = (a: Float64Array | string[], at: number): string[] | null => {
    if (!(a instanceof Float64Array)) return a.slice();
    new Float64Array(memory, at, count).set(a);
    return null;
  };
  return { memory, count, offsets: numbers(c.offsets, 16 * count), timestamps: numbers(c.timestamps, 24 * count) };
}

export function unpackBatch(p: PackedBatch): ChunkRecords {
  const { memory, count } = p;
  return {
    buffer: Buffer.from(memory),
    index: new Int32Array(memory, 0, 4 * count),
    offsets: p.offsets ?? new Float64Array(memory, 16 * count, count),
    timestamps: p.timestamps ?? new Float64Array(memory, 24 * count, count),
  };
}

export type ToCounter =
  | { type: 'schemas'; schemas: CountSchema[] }
  | { type: 'count'; id: number; batch: PackedBatch; topic: string; partition: number };

/** A batch's counts, and the memory it was lent back. */
export interface Counted {
  counts: BatchCounts;
  memory: ArrayBuffer;
}

/** Memory kept for later batches, at most (buffers). */
const SPARE_MEMORY = 32;

/** A counter and its readers, by schema id (what a counting thread holds, or the main thread with none). */
export class SchemaCounter {
  private readonly counter: BatchCounter;
  private readonly readers = new Map<number, SchemaReader>();

  constructor(init: CountingInit) {
    this.counter = new BatchCounter(init.spec, init.options);
  }

  install(schemas: readonly CountSchema[]): void {
    for (const s of schemas) {
      if (this.readers.has(s.id)) continue;
      const writer = avro.Type.forSchema(JSON.parse(s.schema) as avro.Schema, { wrapUnions: false });
      this.readers.set(s.id, this.counter.reader(writer));
    }
  }

  count(records: ChunkRecords, topic: string, partition: number): BatchCounts {
    return this.counter.count(records, this.readers, topic, partition);
  }
}

export interface Counting {
  /** Counts `records` of `topic` partition `partition`; every writer schema among them given to `install` first. */
  count(records: RecordColumns, topic: string, partition: number): Promise<BatchCounts>;
  install(schemas: readonly CountSchema[]): void;
  /** Why a counting thread stopped (every batch sent to it then fails), or null. */
  readonly failure: Error | null;
  close(): Promise<void>;
}

/** Counting on the calling thread. */
class InlineCounting implements Counting {
  private readonly counter: SchemaCounter;
  readonly failure = null;

  constructor(init: CountingInit) {
    this.counter = new SchemaCounter(init);
  }

  install(schemas: readonly CountSchema[]): void {
    this.counter.install(schemas);
  }

  async count(records: RecordColumns, topic: string, partition: number): Promise<BatchCounts> {
    return this.counter.count(records, topic, partition);
  }

  async close(): Promise<void> {}
}

/** Counting on threads, each batch on the next in turn. */
class ThreadCounting implements Counting {
  private next = 0;
  private closed = false;
  /** Memory back from the threads, for the next batches. */
  private readonly spare: ArrayBuffer[] = [];

  constructor(private readonly threads: RequestThread<Counted>[]) {}

  get failure(): Error | null {
    return this.threads.find((t) => t.failure)?.failure ?? null;
  }

  install(schemas: readonly CountSchema[]): void {
    // Messages are handled in the order sent: the schemas reach each thread before any batch that needs them.
    if (schemas.length > 0) for (const t of this.threads) t.post({ type: 'schemas', schemas: [...schemas] } satisfies ToCounter);
  }

  async count(records: RecordColumns, topic: string, partition: number): Promise<BatchCounts> {
    if (this.closed) throw new Error('the counting threads were closed');
    const thread = this.threads[this.next++ % this.threads.length] as RequestThread<Counted>;
    const batch = packBatch(records, (size) => this.take(size));
    const { counts, memory } = await thread.request((id) => ({ type: 'count', id, batch, topic, partition }) satisfies ToCounter, [batch.memory]);
    if (this.spare.length < SPARE_MEMORY) this.spare.push(memory);
    // A buffer arrives as a Uint8Array: Redis's client sends a Buffer's bytes as they are.
    const keys = counts.keys as Uint8Array;
    return { ...counts, keys: Buffer.from(keys.buffer, keys.byteOffset, keys.length) };
  }

  /** Memory of at least `size` bytes: spare, or new (a power of two from 64 KiB, so that it serves later batches too). */
  private take(size: number): ArrayBuffer {
    const i = this.spare.findIndex((m) => m.byteLength >= size);
    if (i >= 0) return this.spare.splice(i, 1)[0] as ArrayBuffer;
    // Not zeroed: packBatch writes every byte a thread reads.
    return Buffer.allocUnsafeSlow(Math.max(1 << 16, 2 ** Math.ceil(Math.log2(size)))).buffer as ArrayBuffer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

/** Counting on `threads` threads (0: on the calling thread), each started and ready. */
export async function startCounting(init: CountingInit, threads: number): Promise<Counting> {
  if (threads === 0) return new InlineCounting(init);
  return new ThreadCounting(await RequestThread.startAll<Counted>(threads, threadUrl(import.meta.url, 'compare', 'count-worker'), init, 'counting'));
}
