import avro from 'avsc';
import { compileFastRead, type FastRead } from '../replay/avro-read.js';

/** Reads some fields of Avro records written with one schema. */
export interface Projection {
  /** The fields it reads, present in the writer's schema (others are absent from what `read` returns). */
  readonly fields: readonly string[];
  /** True when it skips the other fields; false when it decodes whole records. */
  readonly projected: boolean;
  /** True when a compiled reader (src/replay/avro-read.ts) reads the records, avsc only what it leaves. */
  readonly compiled: boolean;
  read(body: Buffer): Record<string, unknown>;
  /** As `read`, for the body that lies at `buf[start, end)`. */
  readAt(buf: Buffer, start: number, end: number): Record<string, unknown>;
}

function reading(fast: FastRead | null, slow: (body: Buffer) => Record<string, unknown>): Pick<Projection, 'compiled' | 'read' | 'readAt'> {
  const readAt = (buf: Buffer, start: number, end: number): Record<string, unknown> => {
    // What the compiled reader does not read cleanly, avsc reads (and refuses as it does).
    const v = fast?.(buf, start, end);
    if (v !== undefined) return v as Record<string, unknown>;
    return slow(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
  };
  return { compiled: fast !== null, readAt, read: (body) => readAt(body, 0, body.length) };
}

/**
 * A reader of `fields` out of records written with `writer` (a record schema). It decodes with a
 * reader schema holding only those fields, which Avro's schema resolution turns into skipping the
 * others: a string it does not need is stepped over, never made into a JavaScript string. The
 * values it returns are exactly what decoding the whole record would give for those fields.
 *
 * Where the fields' types cannot stand alone (one names a type that a skipped field defines), it
 * decodes whole records instead.
 */
export function projection(writer: avro.Type, fields: readonly string[]): Projection {
  const whole = (): Projection => ({
    fields: present, projected: false,
    ...reading(compileFastRead(writer), (body) => writer.fromBuffer(body) as Record<string, unknown>),
  });
  const schema = writer.schema() as { type?: string; fields?: { name: string }[] };
  const wanted = new Set(fields);
  const kept = (schema.fields ?? []).filter((f) => wanted.has(f.name));
  const present = kept.map((f) => f.name);
  if (schema.type !== 'record' || !schema.fields) return whole();
  let reader: avro.Type;
  let resolver: avro.Resolver;
  try {
    reader = avro.Type.forSchema({ ...schema, fields: kept } as avro.Schema, { wrapUnions: false });
    resolver = reader.createResolver(writer);
  } catch {
    return whole();
  }
  return {
    fields: present, projected: true,
    ...reading(compileFastRead(writer, present), (body) => reader.fromBuffer(body, resolver) as Record<string, unknown>),
  };
}
