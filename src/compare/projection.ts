import avro from 'avsc';

/** Reads some fields of Avro records written with one schema. */
export interface Projection {
  /** The fields it reads, present in the writer's schema (others are absent from what `read` returns). */
  readonly fields: readonly string[];
  /** True when it skips the other fields; false when it decodes whole records. */
  readonly projected: boolean;
  read(body: Buffer): Record<string, unknown>;
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
  const whole = (): Projection => ({ fields: present, projected: false, read: (body) => writer.fromBuffer(body) as Record<string, unknown> });
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
  return { fields: present, projected: true, read: (body) => reader.fromBuffer(body, resolver) as Record<string, unknown> };
}
