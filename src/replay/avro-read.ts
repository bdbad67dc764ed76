/**
 * A faster reader for the common shape of event schemas: a record of primitives, enums, fixed,
 * nested records and unions of these. It gives what avsc's `Type.decode` gives for the same
 * writer schema (`wrapUnions: false`, no logical types), and hands back to avsc everything else.
 *
 * Why it is faster: avsc makes one native `utf8Slice` call per string field, which on ~200-byte
 * events with eight strings was a fifth of a processing thread's time. This reader turns the whole
 * body into one Latin-1 string with a single native call and cuts each string field out of it
 * (`slice`: no copy for longer strings), checking that the field's bytes are ASCII; a field with
 * any other byte is read with `utf8Slice`, as avsc would.
 *
 * A compiled reader answers `undefined` for any body it does not read cleanly (truncated, trailing
 * bytes, a bad union or enum index, a negative length, a long beyond 2^53): the caller then decodes
 * with avsc, so a bad body fails with avsc's own error, as before.
 */
import type avro from 'avsc';
import { avscAsShipped } from './avsc-strings.js';

/** Reads a body that lies at `buf[start, end)`; undefined where avsc should decide. */
export type FastRead = (buf: Buffer, start: number, end: number) => unknown;

type Schema = string | { type: string | Schema; [k: string]: unknown } | Schema[];

/** Field names that an object literal would not make an own property of. */
const UNSAFE_NAMES = new Set(['__proto__']);

class Unsupported extends Error {}

/**
 * A reader for `type`'s schema, or null when the schema has a part this reader leaves to avsc
 * (arrays, maps, a name it cannot place, a recursive record) or avsc is to read alone
 * (`REPROCESS_AVSC_FASTPATH=0`). With `keep`, the records it gives
 * hold only those of the record's fields (in the schema's order): the others are stepped over,
 * their strings never made, as avsc does when it resolves the writer's schema to a reader's
 * schema of those fields.
 */
export function compileFastRead(type: avro.Type, keep?: readonly string[]): FastRead | null {
  if (type.typeName !== 'record' || avscAsShipped()) return null;
  try {
    return new Compiler(keep ? new Set(keep) : null).compile(type.schema() as Schema);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/**
 * Where a record's fields lie, written by a compiled locator into `out`, three numbers per field
 * asked for (slot k at 3k): the kind, then
 *   LOCATED_NULL    null, or a field the writer's schema does not have;
 *   LOCATED_STRING  a string: its bytes' start in the buffer, their length (UTF-8, not checked);
 *   LOCATED_NUMBER  an int, long, float or double: its value;
 *   LOCATED_BOOLEAN a boolean: 1 or 0.
 */
export const LOCATED_NULL = 0;
export const LOCATED_STRING = 1;
export const LOCATED_NUMBER = 2;
export const LOCATED_BOOLEAN = 3;

/**
 * Locates `fields` of a body at `buf[start, end)` into `out` (see LOCATED_*): false where avsc
 * should decide (the body is not read cleanly), and then `out` means nothing.
 */
export type FastLocate = (buf: Buffer, start: number, end: number, out: Float64Array) => boolean;

/**
 * A locator of `fields` in records written with `type` (a record schema): it steps over the body
 * as the compiled reader does, makes no string and no object, and tells where each field's value
 * lies, or what it is (FastLocate). Null where the compiled reader would not read the schema, or
 * where one of `fields` has a type other than null, boolean, int, long, float, double, string or a
 * union of these (an enum, bytes, fixed, a record: read those with the reader).
 */
export function compileFastLocate(type: avro.Type, fields: readonly string[]): FastLocate | null {
  if (type.typeName !== 'record' || avscAsShipped()) return null;
  try {
    return new Compiler(null, new Map(fields.map((f, k) => [f, k]))).compileLocate(type.schema() as Schema, fields.length);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/**
 * The generated code reads the body's bytes from `buf` at `start + p`, `p` the position in the body
 * and `n` its length, and cuts strings from `s`, the body as Latin-1 (char p is byte start + p).
 * Each read leaves its value in a variable of the caller's choosing and returns `fail` (undefined
 * from a reader, false from a locator) when the body ends early or is not read cleanly.
 */
class Compiler {
  private readonly named = new Map<string, Schema>();
  private readonly consts: unknown[] = [];
  private vars = 0;
  private readonly stack = new Set<string>();
  private readonly declared: string[] = [];
  /** While true, strings, bytes and fixed are stepped over, not made (a field the caller does not keep). */
  private skipping = false;

  /**
   * `keep`: the top-level record's fields to give (null: all of them). `slots`: instead of giving a
   * record, locate these of its fields into `out` (compileLocate).
   */
  constructor(private keep: Set<string> | null, private slots: Map<string, number> | null = null) {
    this.fail = slots === null ? 'undefined' : 'false';
  }

  /** What the generated function returns for a body it does not read cleanly. */
  private readonly fail: string;

  compileLocate(schema: Schema, count: number): FastLocate {
    const body = this.read(schema, this.local());
    const names = this.consts.map((_, i) => `c${i}`);
    // Fields the writer does not have stay LOCATED_NULL.
    const clear = Array.from({ length: count }, (_, k) => `out[${3 * k}] = 0;`).join(' ');
    const source = `
      'use strict';
      return function locate(buf, start, end, out) {
        const n = end - start;
        let p = 0, b = 0, h = 0, x = 0, f = 0, fk = 0, len = 0;
        ${this.declared.join(' ')}
        ${clear}
        ${body}
        return p === n;
      };`;
    const factory = new Function(...names, source) as (...args: unknown[]) => FastLocate;
    return factory(...this.consts);
  }

  /** Code that writes where a value of `schema` lies into slot `k` of `out` (compileLocate). */
  private locate(schema: Schema, k: number): string {
    if (Array.isArray(schema)) return this.union(schema, (branch) => this.locate(branch, k));
    let name: string;
    if (typeof schema === 'string') {
      const named = this.named.get(schema);
      if (named !== undefined) return this.locate(named, k);
      name = schema;
    } else if (typeof schema.type !== 'string') {
      return this.locate(schema.type, k);
    } else {
      name = schema.type;
    }
    const at = 3 * k;
    switch (name) {
      case 'null':
        return `out[${at}] = ${LOCATED_NULL};`;
      case 'boolean':
        return `if (p >= n) return ${this.fail}; out[${at}] = ${LOCATED_BOOLEAN}; out[${at + 1}] = buf[start + p++] !== 0 ? 1 : 0;`;
      case 'int':
      case 'long':
      case 'float':
      case 'double': {
        const v = this.local();
        return `${this.primitive(name, v)} out[${at}] = ${LOCATED_NUMBER}; out[${at + 1}] = ${v};`;
      }
      case 'string':
        return `${this.varint('len', false)}
          if (len < 0 || p + len > n) return ${this.fail};
          out[${at}] = ${LOCATED_STRING}; out[${at + 1}] = start + p; out[${at + 2}] = len; p += len;`;
      default:
        // Named types (enum, fixed, record) are registered by read(), which the located field skips.
        throw new Unsupported(`located ${name}`);
    }
  }

  compile(schema: Schema): FastRead {
    const out = this.local();
    const body = this.read(schema, out);
    const names = this.consts.map((_, i) => `c${i}`);
    const source = `
      'use strict';
      return function read(buf, start, end) {
        const s = latin1(buf, start, end);
        const w = wordsOf(buf);
        const o = buf.byteOffset;
        const n = end - start;
        let p = 0, b = 0, h = 0, x = 0, f = 0, fk = 0, len = 0, i = 0, e = 0;
        ${this.declared.join(' ')}
        ${body}
        if (p !== n) return undefined;
        return ${out};
      };`;
    const factory = new Function('latin1', 'utf8Text', 'wordsOf', ...names, source) as (...args: unknown[]) => FastRead;
    return factory(latin1, utf8Text, wordsOf, ...this.consts);
  }

  private local(): string {
    const name = `v${this.vars++}`;
    this.declared.push(`let ${name};`);
    return name;
  }

  private constant(value: unknown): string {
    this.consts.push(value);
    return `c${this.consts.length - 1}`;
  }

  /** Code that reads a zigzag varint (Avro int and long) into `into`, as avsc's Tap.readLong does. */
  private varint(into: string, safe: boolean): string {
    return `
      x = 0; len = 0;
      do {
        if (p >= n) return ${this.fail};
        b = buf[start + p++];
        h = b & 0x80;
        x |= (b & 0x7f) << len;
        len += 7;
      } while (h && len < 28);
      if (h) {
        f = x; fk = 268435456;
        do {
          if (p >= n) return ${this.fail};
          b = buf[start + p++];
          f += (b & 0x7f) * fk;
          fk *= 128;
        } while (b & 0x80);
        ${into} = (f % 2 ? -(f + 1) : f) / 2;
        ${safe ? `if (!(${into} >= -9007199254740990 && ${into} <= 9007199254740990)) return ${this.fail};` : ''}
      } else {
        ${into} = (x >> 1) ^ -(x & 1);
      }`;
  }

  private read(schema: Schema, into: string): string {
    if (Array.isArray(schema)) return this.union(schema, (branch) => this.read(branch, into));
    if (typeof schema === 'string') {
      const named = this.named.get(schema);
      if (named !== undefined) return this.read(named, into);
      return this.primitive(schema, into);
    }
    const t = schema.type;
    if (typeof t !== 'string') return this.read(t, into);
    switch (t) {
      case 'record':
      case 'error':
        return this.record(schema, into);
      case 'enum':
        return this.enumeration(schema, into);
      case 'fixed':
        return this.fixed(schema, into);
      case 'array':
      case 'map':
        throw new Unsupported(t);
      default:
        return this.primitive(t, into);
    }
  }

  private primitive(name: string, into: string): string {
    switch (name) {
      case 'null':
        return `${into} = null;`;
      case 'boolean':
        return `if (p >= n) return ${this.fail}; ${into} = buf[start + p++] !== 0;`;
      case 'int':
        return this.varint(into, false);
      case 'long':
        return this.varint(into, true);
      case 'float':
        return `if (p + 4 > n) return ${this.fail}; ${into} = buf.readFloatLE(start + p); p += 4;`;
      case 'double':
        return `if (p + 8 > n) return ${this.fail}; ${into} = buf.readDoubleLE(start + p); p += 8;`;
      case 'string':
        // Cut from `s` while the bytes are ASCII, else decoded as UTF-8 from them, as avsc does.
        // The bytes are OR-ed together (no branch per byte), four at a time from `w`, the memory's
        // words, between 4-byte boundaries (`o`: where `buf` starts in its memory): a byte at a
        // time cost V8 some 13 instructions a byte.
        return `${this.varint('len', false)}
          if (len < 0 || p + len > n) return ${this.fail};
          ${this.skipping ? '' : `
          i = start + p; e = i + len; x = 0;
          for (; i < e && ((o + i) & 3) !== 0; i++) x |= buf[i];
          for (; i + 4 <= e; i += 4) x |= w[(o + i) >>> 2];
          for (; i < e; i++) x |= buf[i];
          ${into} = (x & 0x80808080) !== 0 ? utf8Text(buf, start + p, e) : s.slice(p, p + len);`} p += len;`;
      case 'bytes':
        return `${this.varint('len', false)}
          if (len < 0 || p + len > n) return ${this.fail};
          ${this.skipping ? '' : `${into} = Buffer.from(buf.subarray(start + p, start + p + len));`} p += len;`;
      default:
        throw new Unsupported(name);
    }
  }

  /** Code that reads a union's branch index and then the branch, as `branch` writes it. */
  private union(branches: Schema[], branch: (schema: Schema) => string): string {
    const index = this.local();
    const cases = branches.map((b, i) => `case ${i}: { ${branch(b)} break; }`);
    return `${this.varint(index, false)}
      switch (${index}) { ${cases.join('\n')} default: return ${this.fail}; }`;
  }

  private register(schema: { name?: unknown; namespace?: unknown }, body: Schema): string {
    const name = typeof schema.name === 'string' ? schema.name : null;
    if (name === null) throw new Unsupported('anonymous named type');
    // Avro's full name: the namespace applies unless the name has dots; references may use either.
    const full = name.includes('.') || typeof schema.namespace !== 'string' || schema.namespace === '' ? name : `${schema.namespace}.${name}`;
    this.named.set(full, body);
    const short = full.slice(full.lastIndexOf('.') + 1);
    // A short name that two types share is ambiguous here; leave such schemas to avsc.
    if (this.named.has(short) && short !== full && this.named.get(short) !== body) throw new Unsupported('ambiguous name');
    this.named.set(short, body);
    return full;
  }

  private record(schema: { [k: string]: unknown }, into: string): string {
    const full = this.register(schema, schema as Schema);
    if (this.stack.has(full)) throw new Unsupported('recursive record');
    this.stack.add(full);
    const fields = schema.fields;
    if (!Array.isArray(fields)) throw new Unsupported('record without fields');
    const parts: string[] = [];
    const entries: string[] = [];
    // The fields to keep apply to the outermost record only.
    const keep = this.keep;
    this.keep = null;
    const slots = this.slots;
    this.slots = null;
    const skipping = this.skipping;
    for (const field of fields as { name?: unknown; type?: Schema }[]) {
      if (typeof field.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(field.name) || UNSAFE_NAMES.has(field.name) || field.type === undefined) {
        throw new Unsupported('field name');
      }
      const slot = slots?.get(field.name);
      if (slots !== null) {
        // Locating: the fields asked for are located, the others stepped over; no record is made.
        this.skipping = true;
        parts.push(slot === undefined ? this.read(field.type, this.local()) : this.locate(field.type, slot));
        this.skipping = skipping;
        continue;
      }
      const v = this.local();
      const kept = keep === null || keep.has(field.name);
      this.skipping = skipping || !kept;
      parts.push(this.read(field.type, v));
      this.skipping = skipping;
      if (kept) entries.push(`${field.name}: ${v}`);
    }
    this.stack.delete(full);
    if (slots !== null) return parts.join('\n');
    return `${parts.join('\n')}
      ${into} = { ${entries.join(', ')} };`;
  }

  private enumeration(schema: { [k: string]: unknown }, into: string): string {
    this.register(schema, schema as Schema);
    const symbols = this.constant(Array.isArray(schema.symbols) ? [...(schema.symbols as string[])] : []);
    const index = this.local();
    return `${this.varint(index, false)}
      ${into} = ${symbols}[${index}];
      if (${into} === undefined) return ${this.fail};`;
  }

  private fixed(schema: { [k: string]: unknown }, into: string): string {
    this.register(schema, schema as Schema);
    const size = Number(schema.size);
    if (!Number.isInteger(size) || size < 0) throw new Unsupported('fixed size');
    return `if (p + ${size} > n) return ${this.fail};
      ${this.skipping ? '' : `${into} = Buffer.from(buf.subarray(start + p, start + p + ${size}));`} p += ${size};`;
  }
}

type Latin1Buffer = Buffer & { latin1Slice?: (start: number, end: number) => string };

/** The bytes `buf[start, end)` as Latin-1: one char per byte. */
function latin1(buf: Latin1Buffer, start: number, end: number): string {
  return buf.latin1Slice ? buf.latin1Slice(start, end) : buf.toString('latin1', start, end);
}

type Utf8Buffer = Buffer & { utf8Slice?: (start: number, end: number) => string };

/** `buf.toString('utf8', start, end)` without its argument checks. */
export function utf8Text(buf: Utf8Buffer, start: number, end: number): string {
  return buf.utf8Slice ? buf.utf8Slice(start, end) : buf.toString('utf8', start, end);
}

/** The last buffer read and its memory as 32-bit words: the records of a chunk all lie in one buffer. */
let lastBuffer: Buffer | null = null;
let lastWords: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** `buf`'s whole memory (from its ArrayBuffer's start) as 32-bit words. */
function wordsOf(buf: Buffer): Int32Array<ArrayBufferLike> {
  if (buf !== lastBuffer) {
    lastBuffer = buf;
    lastWords = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
  }
  return lastWords;
}
