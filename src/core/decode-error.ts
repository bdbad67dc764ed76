import { ReprocessError, type ErrorContext } from '../errors.js';

/**
 * Why a record could not be decoded. The values are stable: they label metrics and go into the
 * DLQ `reason` header, so add new ones rather than renaming.
 * - null-value, bad-magic, truncated: the Confluent wire header (see wire.ts)
 * - unknown-schema-id, bad-body: the registry lookup and the Avro body (decided by the adapter)
 * - unknown-version, bad-legacy-id, upcaster-failed: the upcaster chain (see upcast.ts)
 */
export type DecodeFailureReason =
  | 'null-value'
  | 'bad-magic'
  | 'truncated'
  | 'unknown-schema-id'
  | 'bad-body'
  | 'unknown-version'
  | 'bad-legacy-id'
  | 'upcaster-failed';

/** A record that cannot become an event: it goes to the DLQ and the run keeps going. */
export class DecodeError extends ReprocessError {
  readonly reason: DecodeFailureReason;

  constructor(
    reason: DecodeFailureReason,
    message: string,
    options: { hint?: string; context?: ErrorContext; cause?: unknown } = {},
  ) {
    super('DECODE_FAILED', message, { ...options, retriable: false });
    this.name = 'DecodeError';
    this.reason = reason;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason };
  }
}
