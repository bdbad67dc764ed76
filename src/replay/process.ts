import { DecodeError, partitionForKey } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import { SOURCE_HEADER } from '../core/source-header.js';
import type { EncodedBatch, RecordColumns } from '../kafka/index.js';
import { decimal } from '../kafka/kafkajs-records.js';
import { EncodedBatchBuilder } from '../kafka/record-batch.js';
import { newTally, tallyDecodeError, type ChunkTally } from '../metrics/replay.js';
import type { SinkEncoder, SourceDecoder } from './codec.js';
import { describeFailure, type FailureInfo, type FailureStage } from './dlq.js';
import type { Transform, TransformContext } from './modules.js';

/** What processing a chunk needs: pure work, no Kafka, so it runs on the main thread or a worker thread alike. */
export interface ChunkEnv {
  decoder: SourceDecoder;
  transform: Transform;
  encoder: SinkEncoder;
  sourceTopic: string;
  /** The output field that becomes the record key; null keeps the source record's key. */
  outputKey: string | null;
  sinkPartitions: number;
  /** Stop taking records once processing has taken this long: a transaction holds about this much work. */
  maxMs: number;
}


/**
 * A chunk's records where they lie (the columns of kafka/columns.ts, without the records): what a
 * processing thread is sent (workers.ts), and what processChunk reads: no object per record.
 */
export type ChunkRecords = Pick<RecordColumns, 'buffer' | 'index' | 'offsets' | 'timestamps'>;

/** Record `n`'s key, as it lies (no copy). */
function keyAt(records: ChunkRecords, n: number): Buffer | null {
  const start = records.index[n * 4] as number;
  const length = records.index[n * 4 + 1] as number;
  return length < 0 ? null : records.buffer.subarray(start, start + length);
}

/**
 * The transform's second argument. `offset`, `timestamp` and `key` are made when read (most
 * transforms read none of them, and a string and a Buffer per record were measurable); `toJSON`
 * gives all six fields, so logging the context shows them.
 */
class RecordContext implements TransformContext {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly version: number,
    private readonly records: ChunkRecords,
    private readonly n: number,
  ) {}

  get offset(): string {
    const o = this.records.offsets[this.n] as number | string;
    return typeof o === 'string' ? o : String(o);
  }

  get timestamp(): string {
    const t = this.records.timestamps[this.n] as number | string;
    return typeof t === 'string' ? t : decimal(t);
  }

  get key(): Buffer | null {
    return keyAt(this.records, this.n);
  }

  toJSON(): TransformContext {
    return { topic: this.topic, partition: this.partition, offset: this.offset, timestamp: this.timestamp, key: this.key, version: this.version };
  }
}

/** A source record that goes to the DLQ, and why. */
export interface ChunkFailure extends FailureInfo {
  src: number;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

const UPCAST_REASONS = new Set(['unknown-version', 'bad-legacy-id', 'upcaster-failed']);

/**
 * Decodes, upcasts, transforms and encodes the records of one chunk of one source partition.
 * A record that fails at any stage becomes a failure (for the DLQ) and the chunk goes on; a record
 * whose transform returns null or undefined is filtered; an array is all of a record's outputs or
 * none of them. The writer schemas must have been loaded (SourceDecoder.prepare or install).
 */
export async function processChunk(env: ChunkEnv, records: ChunkRecords, partition: number): Promise<EncodedChunk> {
  const { decoder, transform, encoder, sinkPartitions, outputKey } = env;
  const { buffer, index, offsets } = records;
  const builder = new EncodedBatchBuilder(MAX_BATCH_BYTES);
  const failures: ChunkFailure[] = [];
  const tally = newTally();
  const started = performance.now();
  const fail = (src: number, stage: FailureStage, err: unknown): void => {
    failures.push({ src, ...describeFailure(stage, err) });
    tally.dlq[stage] = (tally.dlq[stage] ?? 0) + 1;
    if (err instanceof DecodeError) tallyDecodeError(tally, err.context.version, err.reason);
  };
  /**
   * The output's record key: the source record's, or the output field's text (as a string while
   * it is ASCII); and, in `keyPartition`, the sink partition it goes to. The text's UTF-8 bytes
   * are written once, into KEY_SCRATCH: whether it is ASCII and its hash are read from them.
   */
  let keyPartition = 0;
  const placed = (key: Buffer | null): Buffer | null => {
    keyPartition = key === null ? partition % sinkPartitions : partitionForKey(key, sinkPartitions);
    return key;
  };
  const keyOf = (o: unknown, src: number): Buffer | string | null => {
    if (typeof o !== 'object' || o === null) throw new ReprocessError('TRANSFORM_FAILED', `the transform returned ${o === null ? 'null' : typeof o} inside an array; return records (objects)`);
    if (outputKey === null) return placed(keyAt(records, src));
    const v = (o as Record<string, unknown>)[outputKey];
    if (v === null || v === undefined) return placed(null);
    const text = typeof v === 'string' ? v : String(v);
    if (text.length > MAX_SCRATCH_KEY) return placed(Buffer.from(text));
    const n = utf8Write(KEY_SCRATCH, text);
    keyPartition = partitionForKey(KEY_SCRATCH, sinkPartitions, n);
    // As many bytes as characters: all ASCII, and the string is its bytes.
    return n === text.length ? text : Buffer.from(KEY_SCRATCH.subarray(0, n));
  };

  const count = offsets.length;
  let taken = 0;
  let awaited = false;
  for (let src = 0; src < count; src++) {
    taken++;
    const i = src * 4;
    const keyLength = index[i + 1] as number;
    const valueStart = index[i + 2] as number;
    const valueLength = index[i + 3] as number;
    tally.readBytes += (keyLength > 0 ? keyLength : 0) + (valueLength > 0 ? valueLength : 0);
    let decoded;
    try {
      // Read where the value lies: no Buffer of its own.
      decoded = decoder.decodeAt(buffer, valueStart, valueLength);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      fail(src, UPCAST_REASONS.has(err.reason) ? 'upcast' : 'decode', err);
      continue;
    }
    let result: unknown;
    try {
      result = transform(decoded.event, new RecordContext(env.sourceTopic, partition, decoded.version, records, src));
      // Awaited only when the transform is async: a microtask turn per record is measurable.
      if (isPromiseLike(result)) {
        result = await result;
        awaited = true;
      }
    } catch (err) {
      fail(src, 'transform', err);
      continue;
    }
    if (result === null || result === undefined) {
      tally.filtered++;
      continue;
    }
    // Each output keeps its source record's timestamp and names it in the `reprocess.source` header.
    const t = records.timestamps[src] as number | string;
    const timestamp = typeof t === 'number' ? t : Number(t);
    const offset = offsets[src] as number | string;
    try {
      if (Array.isArray(result)) {
        // All of a record's outputs or none: encode them all before adding any.
        const encoded = (result as unknown[]).map((o) => {
          const key = keyOf(o, src);
          return { key, value: encoder.encode(o), sinkPartition: keyPartition };
        });
        for (const e of encoded) builder.add(e.sinkPartition, e.key, e.value, e.value.length, timestamp, SOURCE_HEADER, partition, offset);
      } else {
        const key = keyOf(result, src);
        // Encoded into the encoder's scratch buffer, copied once into the batch.
        const length = encoder.encodeToScratch(result);
        builder.add(keyPartition, key, encoder.scratchBuffer, length, timestamp, SOURCE_HEADER, partition, offset);
      }
    } catch (err) {
      fail(src, 'encode', err);
    }
    // The clock every 16 records of a synchronous transform (reading it per record was
    // measurable), after every record of an asynchronous one.
    if ((awaited || (src & 15) === 15) && performance.now() - started >= env.maxMs) break;
  }
  const { batches, transfer } = builder.finish();
  for (const b of batches) {
    tally.written += b.count;
    tally.writtenBytes += b.bytes;
  }
  return { taken, batches, failures, tally, transfer };
}

/** Output keys up to this many characters are written into KEY_SCRATCH (3 bytes at most each); longer ones get a Buffer of their own. */
const MAX_SCRATCH_KEY = 1024;
const KEY_SCRATCH = Buffer.allocUnsafe(3 * MAX_SCRATCH_KEY);

type Utf8Writable = Buffer & { utf8Write?: (s: string, offset: number) => number };

/** Writes `s` as UTF-8 at the front of `buf` (room for it assumed); the bytes written. */
function utf8Write(buf: Utf8Writable, s: string): number {
  return buf.utf8Write ? buf.utf8Write(s, 0) : buf.write(s, 0, 'utf8');
}

/** A chunk as the Kafka thread sends it: the sink's records encoded per partition. */
export interface EncodedChunk {
  /** Records taken from the front of the chunk (fewer than given when `maxMs` ran out). */
  taken: number;
  /** The sink's records, per sink partition, in the order processed; each carries the `reprocess.source` header. */
  batches: EncodedBatch[];
  failures: ChunkFailure[];
  /** readBytes, filtered, dlq and decodeErrors of the records taken; written and writtenBytes of the batches. */
  tally: ChunkTally;
  /** Where `batches` keep their records, to transfer between threads. */
  transfer: ArrayBuffer;
}

/**
 * No record batch is larger than this (records of one sink partition in one chunk beyond it go
 * in further batches): the broker refuses a batch above its `message.max.bytes` (1 MiB by default).
 */
export const MAX_BATCH_BYTES = 512 * 1024;
