/**
 * One error type for the whole project. `code` is stable (users and scripts may match on it),
 * `retriable` says whether doing the same thing again can succeed, `hint` says what to do next,
 * and `context` carries where it happened (run, topic, partition, offset, key of a spec).
 * Messages never contain credentials: build them from redacted values only.
 */
export type ErrorCode =
  | 'USAGE'
  | 'SPEC_INVALID'
  | 'CONFIG_INVALID'
  | 'PREREQUISITE_MISSING'
  | 'PORT_TAKEN'
  | 'STACK_START_FAILED'
  | 'STACK_TIMEOUT'
  | 'ENDPOINT_UNREACHABLE'
  | 'UNSAFE_SINK'
  | 'WINDOW_INVALID'
  | 'SOURCE_MISSING'
  | 'SINK_OWNED'
  | 'DLQ_RATIO_EXCEEDED'
  | 'DECODE_FAILED'
  | 'TRANSFORM_FAILED'
  | 'ENCODE_FAILED'
  | 'REGISTRY_UNAVAILABLE'
  | 'REGISTRY_ERROR'
  | 'RUN_NOT_FOUND'
  | 'CATALOG_CONFLICT'
  | 'NOT_PROMOTABLE'
  | 'DATASET_NOT_FOUND'
  | 'ABORTED'
  | 'INTERNAL';

export interface ErrorContext {
  runId?: string;
  topic?: string;
  partition?: number;
  offset?: string;
  key?: string;
  endpoint?: string;
  variable?: string;
  [extra: string]: unknown;
}

export interface ReprocessErrorOptions {
  retriable?: boolean;
  hint?: string;
  context?: ErrorContext;
  cause?: unknown;
}

export class ReprocessError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string | undefined;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: ReprocessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReprocessError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
    this.context = options.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      retriable: this.retriable,
      hint: this.hint,
      context: this.context,
    };
  }
}

export function isReprocessError(err: unknown, code?: ErrorCode): err is ReprocessError {
  return err instanceof ReprocessError && (code === undefined || err.code === code);
}

/** The class name of any thrown value, for DLQ headers and metrics labels. */
export function errorClass(err: unknown): string {
  if (err instanceof ReprocessError) return err.code;
  if (err instanceof Error) return err.name || err.constructor.name || 'Error';
  return typeof err;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
