import { DecodeError } from '../core/index.js';
import { errorClass, errorMessage } from '../errors.js';
import type { ConsumedRecord, OutRecord } from '../kafka/index.js';

export type FailureStage = 'decode' | 'upcast' | 'transform' | 'encode';

/** Headers added to every DLQ record; the record's own key, value, headers and timestamp are kept unchanged. */
export const DLQ_HEADERS = {
  sourceTopic: 'reprocess.source.topic',
  sourcePartition: 'reprocess.source.partition',
  sourceOffset: 'reprocess.source.offset',
  stage: 'reprocess.stage',
  errorClass: 'reprocess.error.class',
  errorMessage: 'reprocess.error.message',
  reason: 'reprocess.error.reason',
  runId: 'reprocess.run.id',
} as const;

const MAX_MESSAGE = 1_000;

export function dlqRecord(
  rec: ConsumedRecord,
  where: { runId: string; topic: string; partition: number; stage: FailureStage; error: unknown; dlqPartitions: number },
): OutRecord {
  const headers: Record<string, Buffer | string> = {};
  for (const [k, v] of Object.entries(rec.headers)) if (v !== undefined) headers[k] = v;
  headers[DLQ_HEADERS.sourceTopic] = where.topic;
  headers[DLQ_HEADERS.sourcePartition] = String(where.partition);
  headers[DLQ_HEADERS.sourceOffset] = rec.offset;
  headers[DLQ_HEADERS.stage] = where.stage;
  headers[DLQ_HEADERS.errorClass] = errorClass(where.error);
  headers[DLQ_HEADERS.errorMessage] = errorMessage(where.error).slice(0, MAX_MESSAGE);
  headers[DLQ_HEADERS.reason] = where.error instanceof DecodeError ? where.error.reason : where.stage === 'transform' ? 'transform-threw' : where.stage === 'encode' ? 'output-invalid' : 'failed';
  headers[DLQ_HEADERS.runId] = where.runId;
  return { key: rec.key, value: rec.value, headers, timestamp: rec.timestamp, partition: where.partition % where.dlqPartitions };
}
