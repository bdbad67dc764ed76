import avro from 'avsc';
import { DecodeError, WIRE_HEADER_BYTES, decodeWireHeader, encodeWire, readVersion, wireSchemaId, wireSchemaIdAt, type Event, type UpcastFn } from '../core/index.js';
import type { ChunkRecords } from './process.js';
import { ReprocessError, errorMessage } from '../errors.js';
import { isSchemaNotFound, type RegistryClient } from '../registry/index.js';
import { installAvscStrings } from './avsc-strings.js';
import { compileFastRead, type FastRead } from './avro-read.js';
import { compileFastWrite, type FastWrite } from './avro-write.js';

installAvscStrings();

export interface DecodedEvent {
  /** The event lifted to the newest shape. */
  event: Event;
  /** The version it was written in (before upcasting). */
  version: number;
  schemaId: number;
}

/** A writer schema as a decoder knows it, to hand to another decoder (a processing thread's). */
export interface SchemaEntry {
  id: number;
  /** The Avro schema's JSON, or null for an id the registry does not have (or not as Avro). */
  schema: string | null;
  /** Its version under the source subject, when it is one. */
  subjectVersion: number | null;
}

export interface SourceDecoderOptions {
  /** Absent in a processing thread, whose schemas come from the main thread's decoder (`install`). */
  registry?: RegistryClient;
  /** Subject of the source topic's values (`<topic>-value`), for versions read from the registry. */
  subject: string;
  versionField: string;
  upcast: UpcastFn;
  /** Called while the registry is down and a lookup waits to be retried. */
  onRegistryWait?: (err: ReprocessError, attempt: number) => void;
  /** Called when a schema id is first met and fetched from the registry. */
  onSchemaFetch?: (schemaId: number) => void;
  signal?: AbortSignal;
}

/**
 * Decodes Confluent wire-format Avro with the writer schema the record names. Types are built
 * once per schema id; a batch warms the cache with `prepare` and then decodes synchronously.
 * A record that cannot be decoded throws a DecodeError (it goes to the DLQ); a registry that does
 * not answer is waited for, never a reason to DLQ a record.
 */
export class SourceDecoder {
  private readonly types = new Map<number, avro.Type>();
  /** Per schema id, the faster reader of avro-read.ts where the schema suits it (avsc decides the rest). */
  private readonly readers = new Map<number, FastRead>();
  private readonly unknownIds = new Set<number>();
  private readonly subjectVersion = new Map<number, number | null>();
  private readonly known: SchemaEntry[] = [];
  private readonly loading = new Map<number, Promise<void>>();

  constructor(private readonly options: SourceDecoderOptions) {}

  /** Every schema id met so far, in the order met. */
  entries(): readonly SchemaEntry[] {
    return this.known;
  }

  /** Takes schemas another decoder loaded (the main thread's, for a processing thread). */
  install(entries: readonly SchemaEntry[]): void {
    for (const e of entries) {
      if (this.types.has(e.id) || this.unknownIds.has(e.id)) continue;
      if (e.schema === null) this.unknownIds.add(e.id);
      else {
        const type = avro.Type.forSchema(JSON.parse(e.schema) as avro.Schema, { wrapUnions: false });
        this.types.set(e.id, type);
        const reader = compileFastRead(type);
        if (reader) this.readers.set(e.id, reader);
      }
      this.subjectVersion.set(e.id, e.subjectVersion);
      this.known.push(e);
    }
  }

  /** Fetches the writer schemas a batch needs (and waits out registry outages). */
  async prepare(values: (Buffer | null)[]): Promise<void> {
    const ids = new Set<number>();
    for (const v of values) {
      const id = wireSchemaId(v);
      if (id !== null) ids.add(id);
    }
    await this.prepareIds(ids);
  }

  /** As `prepare`, given the schema ids the values name. */
  async prepareIds(schemaIds: Iterable<number>): Promise<void> {
    const ids = new Set<number>();
    for (const id of schemaIds) if (!this.types.has(id) && !this.unknownIds.has(id)) ids.add(id);
    for (const id of ids) {
      // One fetch per id, however many batches ask for it at once.
      let loading = this.loading.get(id);
      if (!loading) {
        this.options.onSchemaFetch?.(id);
        loading = this.load(id).finally(() => this.loading.delete(id));
        this.loading.set(id, loading);
      }
      await loading;
    }
  }

  /** Fetches a schema and its subject version, then makes it known all at once. */
  private async load(id: number): Promise<void> {
    const registry = this.options.registry;
    if (!registry) throw new Error(`schema id ${id} was not handed to this decoder`);
    let entry: SchemaEntry = { id, schema: null, subjectVersion: null };
    await this.withRegistry(async () => {
      let found;
      try {
        found = await registry.getSchema(id);
      } catch (err) {
        if (isSchemaNotFound(err)) return;
        throw err;
      }
      if (found.schemaType !== 'AVRO') return;
      const versions = await registry.subjectVersions(id).catch((err: unknown) => {
        if (isSchemaNotFound(err)) return [];
        throw err;
      });
      entry = { id, schema: found.schema, subjectVersion: versions.find((v) => v.subject === this.options.subject)?.version ?? null };
    });
    this.install([entry]);
  }

  private async withRegistry(fn: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ReprocessError) || !err.retriable) throw err;
        if (this.options.signal?.aborted) throw new ReprocessError('ABORTED', 'Stopped while waiting for the schema registry.', { cause: err });
        this.options.onRegistryWait?.(err, attempt);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  /** Decode one value whose schema `prepare` has loaded. */
  decode(value: Buffer | null): DecodedEvent {
    const { schemaId, body } = decodeWireHeader(value);
    return this.decodeBody(schemaId, body, 0, body.length);
  }

  /**
   * As `decode`, for the value that lies at `buf[start, start + length)` (length -1: a null
   * value): read where it lies, with no Buffer of its own.
   */
  decodeAt(buf: Buffer, start: number, length: number): DecodedEvent {
    const schemaId = wireSchemaIdAt(buf, start, length);
    // Anything but a well-formed header takes decode's path, for its errors.
    if (schemaId === null) return this.decode(length < 0 ? null : buf.subarray(start, start + length));
    return this.decodeBody(schemaId, buf, start + WIRE_HEADER_BYTES, start + length);
  }

  /** Decodes the Avro body at `buf[from, end)` with the writer schema `schemaId`, then upcasts it. */
  private decodeBody(schemaId: number, buf: Buffer, from: number, end: number): DecodedEvent {
    const type = this.types.get(schemaId);
    if (!type) {
      throw new DecodeError('unknown-schema-id', `schema id ${schemaId} is not in the registry (or is not an Avro schema)`, {
        hint: 'The producer registered its schema somewhere else, or the registry lost it.',
        context: { schemaId },
      });
    }
    // A body the faster reader reads cleanly is what avsc would read; anything else, avsc reads (and fails as it does).
    const reader = this.readers.get(schemaId);
    if (reader !== undefined) {
      const fast = reader(buf, from, end);
      if (fast !== undefined) return this.lift(fast as Event, schemaId);
    }
    let event: unknown;
    try {
      // The body may be followed by other records' bytes: it must end exactly at `end`.
      const read = type.decode(buf, from);
      if (read.offset !== end) throw new Error(read.offset < 0 || read.offset > end ? 'truncated buffer' : 'trailing data');
      event = read.value;
    } catch (err) {
      throw new DecodeError('bad-body', `the Avro body does not match schema id ${schemaId}: ${errorMessage(err)}`, { cause: err, context: { schemaId } });
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new DecodeError('bad-body', `schema id ${schemaId} is not a record schema`, { context: { schemaId } });
    }
    return this.lift(event as Event, schemaId);
  }

  /** Reads the decoded event's version and upcasts it. */
  private lift(event: Event, schemaId: number): DecodedEvent {
    // Freshly decoded and held by nobody else: handed to the upcast chain to change in place.
    const version = readVersion(event, this.options.versionField) ?? this.subjectVersion.get(schemaId) ?? null;
    if (version === null) {
      throw new DecodeError('unknown-version', `the event has no ${this.options.versionField} field and schema id ${schemaId} is not a version of ${this.options.subject}`, {
        hint: `Set source.versionField to the field that holds the schema version, or register the schema under ${this.options.subject}.`,
        context: { schemaId },
      });
    }
    const lifted = this.options.upcast(event, version, true);
    return { event: lifted.event, version, schemaId };
  }
}

/** A chunk's key + value bytes (what a byte rate limit counts) and the schema ids its values name, read where they lie. */
export function chunkFacts(c: ChunkRecords): { bytes: number; schemaIds: Set<number> } {
  let bytes = 0;
  const schemaIds = new Set<number>();
  const { index, buffer } = c;
  let last = Number.NaN;
  for (let i = 0; i < index.length; i += 4) {
    const keyLength = index[i + 1] as number;
    const valueLength = index[i + 3] as number;
    bytes += (keyLength > 0 ? keyLength : 0) + (valueLength > 0 ? valueLength : 0);
    // Neighbours mostly share an id: added once.
    const id = wireSchemaIdAt(buffer, index[i + 2] as number, valueLength);
    if (id !== null && id !== last) schemaIds.add((last = id));
  }
  return { bytes, schemaIds };
}

/** Encodes output records with the job's output schema, registered under `<sink>-value`. */
export class SinkEncoder {
  readonly type: avro.Type;
  /** Records are encoded here behind the wire header, then copied out once (no concat). */
  private scratch: Buffer;
  /** The faster writer of avro-write.ts where the schema suits it; avsc writes what it leaves. */
  private readonly write: FastWrite | null;
  constructor(schema: object, readonly schemaId: number) {
    this.type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
    this.write = compileFastWrite(this.type);
    this.scratch = encodeWire(schemaId, Buffer.alloc(64 * 1024 - WIRE_HEADER_BYTES));
  }

  encode(record: unknown): Buffer {
    const end = this.encodeToScratch(record);
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }

  /** The encoder's buffer: after `encodeToScratch`, the record's wire-format bytes start it (until the next call). */
  get scratchBuffer(): Buffer {
    return this.scratch;
  }

  /** Encodes a record into `scratchBuffer`, behind the wire header; returns its length. */
  encodeToScratch(record: unknown): number {
    if (this.write !== null) {
      const end = this.write(record, this.scratch, WIRE_HEADER_BYTES);
      if (end >= 0) return end;
    }
    try {
      let end = this.type.encode(record, this.scratch, WIRE_HEADER_BYTES);
      if (end < 0) {
        // avsc answers with the bytes missing: grow to fit and encode again.
        this.scratch = encodeWire(this.schemaId, Buffer.alloc(2 * (this.scratch.length - end)));
        end = this.type.encode(record, this.scratch, WIRE_HEADER_BYTES);
      }
      return end;
    } catch (err) {
      const paths: string[] = [];
      this.type.isValid(record, { errorHook: (path) => paths.push(path.join('.') || '(record)') });
      const where = paths.length ? ` (invalid field${paths.length > 1 ? 's' : ''}: ${paths.slice(0, 5).join(', ')})` : '';
      throw new ReprocessError('ENCODE_FAILED', `the transform's output does not match the output schema${where}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
