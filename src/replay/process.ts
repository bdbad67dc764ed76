import { DecodeError, partitionForKey } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import { SOURCE_HEADER, formatSourceHeader } from '../core/source-header.js';
import type { ConsumedRecord, EncodedBatch } from '../kafka/index.js';
import { EncodedBatchBuilder } from '../kafka/record-batch.js';
import { newTally, tallyDecodeError, type ChunkTally } from '../metrics/replay.js';
import type { SinkEncoder, SourceDecoder } from './codec.js';
import { describeFailure, type FailureInfo, type FailureStage } from './dlq.js';
import type { Transform } from './modules.js';

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

/** The part of a source record that processing reads. */
export type SourceRecord = Pick<ConsumedRecord, 'offset' | 'timestamp' | 'key' | 'value'>;

/** One output record; `src` is the index of its source record in the chunk. */
export interface ChunkOutput {
  src: number;
  key: Buffer | null;
  value: Buffer;
  partition: number;
}

/** A source record that goes to the DLQ, and why. */
export interface ChunkFailure extends FailureInfo {
  src: number;
}

export interface ChunkResult {
  /** Records taken from the front of the chunk (fewer than given when `maxMs` ran out). */
  taken: number;
  outputs: ChunkOutput[];
  failures: ChunkFailure[];
  /** readBytes, filtered, dlq and decodeErrors of the records taken. */
  tally: ChunkTally;
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
export async function processChunk(env: ChunkEnv, records: readonly SourceRecord[], partition: number): Promise<ChunkResult> {
  const { decoder, transform, encoder, sinkPartitions, outputKey } = env;
  const outputs: ChunkOutput[] = [];
  const failures: ChunkFailure[] = [];
  const tally = newTally();
  const started = performance.now();
  const fail = (src: number, stage: FailureStage, err: unknown): void => {
    failures.push({ src, ...describeFailure(stage, err) });
    tally.dlq[stage] = (tally.dlq[stage] ?? 0) + 1;
    if (err instanceof DecodeError) tallyDecodeError(tally, err.context.version, err.reason);
  };
  const toOutput = (o: unknown, rec: SourceRecord, src: number): ChunkOutput => {
    if (typeof o !== 'object' || o === null) throw new ReprocessError('TRANSFORM_FAILED', `the transform returned ${o === null ? 'null' : typeof o} inside an array; return records (objects)`);
    let key: Buffer | null;
    if (outputKey === null) key = rec.key;
    else {
      const v = (o as Record<string, unknown>)[outputKey];
      key = v === null || v === undefined ? null : Buffer.from(typeof v === 'string' ? v : String(v));
    }
    return { src, key, value: encoder.encode(o), partition: key ? partitionForKey(key, sinkPartitions) : partition % sinkPartitions };
  };

  let taken = 0;
  for (let src = 0; src < records.length; src++) {
    const rec = records[src] as SourceRecord;
    taken++;
    tally.readBytes += (rec.value?.length ?? 0) + (rec.key?.length ?? 0);
    let decoded;
    try {
      decoded = decoder.decode(rec.value);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      fail(src, UPCAST_REASONS.has(err.reason) ? 'upcast' : 'decode', err);
      continue;
    }
    let result: unknown;
    try {
      result = transform(decoded.event, { topic: env.sourceTopic, partition, offset: rec.offset, timestamp: rec.timestamp, key: rec.key, version: decoded.version });
      // Awaited only when the transform is async: a microtask turn per record is measurable.
      if (isPromiseLike(result)) result = await result;
    } catch (err) {
      fail(src, 'transform', err);
      continue;
    }
    if (result === null || result === undefined) {
      tally.filtered++;
      continue;
    }
    try {
      if (Array.isArray(result)) {
        // All of a record's outputs or none: encode them all before adding any.
        const encoded: ChunkOutput[] = [];
        for (const o of result as unknown[]) encoded.push(toOutput(o, rec, src));
        for (const e of encoded) outputs.push(e);
      } else {
        outputs.push(toOutput(result, rec, src));
      }
    } catch (err) {
      fail(src, 'encode', err);
    }
    if (performance.now() - started >= env.maxMs) break;
  }
  return { taken, outputs, failures, tally };
}

/** A chunk as the Kafka thread sends it: the sink's records encoded per partition. */
export interface EncodedChunk {
  taken: number;
  /** The sink's records, per sink partition, in the order processed; each carries the `reprocess.source` header. */
  batches: EncodedBatch[];
  failures: ChunkFailure[];
  /** As ChunkResult's, with `written` and `writtenBytes` of the batches. */
  tally: ChunkTally;
  /** Where `batches` keep their records, to transfer between threads. */
  transfer: ArrayBuffer;
}

/**
 * No record batch is larger than this (records of one sink partition in one chunk beyond it go
 * in further batches): the broker refuses a batch above its `message.max.bytes` (1 MiB by default).
 */
export const MAX_BATCH_BYTES = 512 * 1024;

/**
 * Encodes a chunk's outputs as the sink's record batches: each output keeps its source record's
 * timestamp and names it in the `reprocess.source` header.
 */
export function encodeChunk(result: ChunkResult, records: readonly SourceRecord[], partition: number): EncodedChunk {
  const builder = new EncodedBatchBuilder(MAX_BATCH_BYTES);
  for (const o of result.outputs) {
    const rec = records[o.src] as SourceRecord;
    builder.add(o.partition, o.key, o.value, Number(rec.timestamp), SOURCE_HEADER, formatSourceHeader(partition, rec.offset));
  }
  const { batches, transfer } = builder.finish();
  const tally = result.tally;
  for (const b of batches) {
    tally.written += b.count;
    tally.writtenBytes += b.bytes;
  }
  return { taken: result.taken, batches, failures: result.failures, tally, transfer };
}
