import avro from 'avsc';
import { DecodeError } from '../core/decode-error.js';
import { decodeWireHeader } from '../core/wire.js';
import { ReprocessError, errorMessage } from '../errors.js';
import type { RegistryClient } from '../registry/index.js';

/**
 * Decodes dataset values (Confluent wire format, Avro) with the writer schema each names. Types
 * are built once per schema id. A registry that does not answer is waited for (with backoff) until
 * `signal` aborts; a value that cannot be decoded throws a DecodeError.
 */
export class ValueDecoder {
  private readonly types = new Map<number, avro.Type>();

  constructor(private readonly registry: RegistryClient, private readonly signal: AbortSignal) {}

  async decode(value: Buffer | null): Promise<unknown> {
    if (value === null) return null;
    const { schemaId, body } = decodeWireHeader(value);
    const type = this.types.get(schemaId) ?? (await this.load(schemaId));
    try {
      return type.fromBuffer(body);
    } catch (err) {
      throw new DecodeError('bad-body', `the Avro body does not match schema id ${schemaId}: ${errorMessage(err)}`, { cause: err, context: { schemaId } });
    }
  }

  private async load(id: number): Promise<avro.Type> {
    for (let attempt = 1; ; attempt++) {
      try {
        const schema = await this.registry.getSchema(id);
        const type = avro.Type.forSchema(JSON.parse(schema.schema) as avro.Schema, { wrapUnions: false });
        this.types.set(id, type);
        return type;
      } catch (err) {
        if (!(err instanceof ReprocessError) || !err.retriable || this.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))));
      }
    }
  }
}
