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

/** Why a record failed, as the DLQ headers say it. */
export interface FailureInfo {
  stage: FailureStage;
  errorClass: string;
  message: string;
  reason: string;
}

export function describeFailure(stage: FailureStage, error: unknown): FailureInfo {
  return {
    stage,
    errorClass: errorClass(error),
    message: errorMessage(error).slice(0, MAX_MESSAGE),
    reason: error instanceof DecodeError ? error.reason : stage === 'transform' ? 'transform-threw' : stage === 'encode' ? 'output-invalid' : 'failed',
  };
}

export function dlqRecord(rec: ConsumedRecord, where: { runId: string; topic: string; partition: number; dlqPartitions: number }, failure: FailureInfo): OutRecord {
  const headers: Record<string, Buffer | string> = {};
  for (const [k, v] of Object.entries(rec.headers)) if (v !== undefined) headers[k] = v;
  headers[DLQ_HEADERS.sourceTopic] = where.topic;
  headers[DLQ_HEADERS.sourcePartition] = String(where.partition);
  headers[DLQ_HEADERS.sourceOffset] = rec.offset;
  headers[DLQ_HEADERS.stage] = failure.stage;
  headers[DLQ_HEADERS.errorClass] = failure.errorClass;
  headers[DLQ_HEADERS.errorMessage] = failure.message;
  headers[DLQ_HEADERS.reason] = failure.reason;
  headers[DLQ_HEADERS.runId] = where.runId;
  return { key: rec.key, value: rec.value, headers, timestamp: rec.timestamp, partition: where.partition % where.dlqPartitions };
}
