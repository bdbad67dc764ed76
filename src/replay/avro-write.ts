/**
 * A faster writer for the common shape of output schemas, the counterpart of avro-read.ts: a
 * record of primitives, enums, fixed, nested records and unwrapped unions of these. It writes the
 * bytes avsc's `Type.encode` writes for the same value (`wrapUnions: false`), in one generated
 * function per schema with no call per field. ASCII strings shorter than 64 characters are written
 * in place: below 16 characters byte by byte, from 16 with one `utf8Write`.
 *
 * Anything it is not sure of, it leaves to avsc by answering -1: a value avsc would refuse (a
 * missing field, a string where a number goes, a long beyond 2^53, …), a field left undefined
 * (avsc writes its default), a buffer too small. The caller then encodes with avsc, which writes
 * the record or fails with its own error, as before. Non-ASCII and longer strings are written by
 * avsc's own string writer, in place.
 */
import { createRequire } from 'node:module';
import type avro from 'avsc';
import { avscAsShipped } from './avsc-strings.js';

/** Writes `value` into `buf` from `pos`; the end, or -1 where avsc should write it. */
export type FastWrite = (value: unknown, buf: Buffer, pos: number) => number;

interface Tap {
  pos: number;
  isValid(): boolean;
}
type TapClass = new (buf: Buffer, pos: number) => Tap;
interface WritableType {
  _write(tap: Tap, value: unknown): void;
}

const require = createRequire(import.meta.url);

class Unsupported extends Error {}

/**
 * A writer for `type` (a record), or null where the schema has a part left to avsc (arrays, maps,
 * logical types, recursion) or avsc is to write alone (`REPROCESS_AVSC_FASTPATH=0`).
 */
export function compileFastWrite(type: avro.Type): FastWrite | null {
  if (type.typeName !== 'record' || avscAsShipped()) return null;
  let Tap: TapClass;
  try {
    Tap = (require('avsc/lib/utils.js') as { Tap: TapClass }).Tap;
  } catch {
    return null;
  }
  try {
    return new Compiler(Tap).compile(type);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/** What avsc's unwrapped unions dispatch on: the value's kind (types.js getValueBucket). */
function bucketOf(v: unknown): string {
  if (v === null) return 'null';
  const kind = typeof v;
  if (kind === 'object') {
    if (Array.isArray(v)) return 'array';
    if (Buffer.isBuffer(v)) return 'buffer';
  }
  return kind;
}

/** The kind of value a union branch takes (types.js getTypeBucket). */
function bucketFor(type: avro.Type): string {
  switch (type.typeName) {
    case 'double': case 'float': case 'int': case 'long': return 'number';
    case 'bytes': case 'fixed': return 'buffer';
    case 'enum': return 'string';
    case 'map': case 'error': case 'record': return 'object';
    default: return type.typeName;
  }
}

/**
 * The generated code keeps the position in `pos` and the buffer's length in `n`; `x0` is the
 * record, `x1`, `x2`, … the value of a field of each record, nested or not.
 */
class Compiler {
  private readonly consts: unknown[] = [];
  private readonly records = new Set<avro.Type>();
  private vars = 1;

  constructor(private readonly Tap: TapClass) {}

  compile(type: avro.Type): FastWrite {
    const body = this.write(type, 'x0');
    const fieldVars = Array.from({ length: this.vars - 1 }, (_, i) => `x${i + 1}`);
    const names = this.consts.map((_, i) => `c${i}`);
    const source = `
      'use strict';
      return function write(x0, buf, pos) {
        const n = buf.length;
        let ${[...fieldVars, 'm = 0', 'f = 0', 'i = 0', 'c = 0', 'len = 0'].join(', ')};
        ${body}
        return pos;
      };`;
    const factory = new Function('bucketOf', 'avscString', ...names, source) as (...args: unknown[]) => FastWrite;
    return factory(bucketOf, this.avscString(), ...this.consts);
  }

  /** avsc's own string writer at `pos`: the new position, or -1 past the end of the buffer. */
  private avscString(): (s: string, buf: Buffer, pos: number, type: WritableType) => number {
    const Tap = this.Tap;
    return (s, buf, pos, type) => {
      const tap = new Tap(buf, pos);
      type._write(tap, s);
      return tap.isValid() ? tap.pos : -1;
    };
  }

  private constant(value: unknown): string {
    this.consts.push(value);
    return `c${this.consts.length - 1}`;
  }

  /** A zigzag varint of the number in `v` (an integer within ±2^53), as avsc's Tap.writeLong writes it. */
  private varint(v: string): string {
    return `
      if (pos + 10 > n) return -1;
      if (${v} >= -1073741824 && ${v} < 1073741824) {
        m = ${v} >= 0 ? ${v} << 1 : (~${v} << 1) | 1;
        do { buf[pos] = m & 0x7f; m >>= 7; } while (m && (buf[pos++] |= 0x80));
      } else {
        f = ${v} >= 0 ? ${v} * 2 : (-${v} * 2) - 1;
        do { buf[pos] = f & 0x7f; f /= 128; } while (f >= 1 && (buf[pos++] |= 0x80));
      }
      pos++;`;
  }

  private write(type: avro.Type, x: string): string {
    const t = type as avro.Type & { typeName: string };
    switch (t.typeName) {
      case 'null':
        return `if (${x} !== null) return -1;`;
      case 'boolean':
        return `if (typeof ${x} !== 'boolean') return -1; if (pos + 1 > n) return -1; buf[pos++] = ${x} ? 1 : 0;`;
      case 'int':
        return `if (${x} !== (${x} | 0)) return -1; ${this.varint(x)}`;
      case 'long':
        return `if (typeof ${x} !== 'number' || ${x} % 1 || !(${x} >= -9007199254740990 && ${x} <= 9007199254740990)) return -1; ${this.varint(x)}`;
      case 'float':
        return `if (typeof ${x} !== 'number') return -1; if (pos + 4 > n) return -1; buf.writeFloatLE(${x}, pos); pos += 4;`;
      case 'double':
        return `if (typeof ${x} !== 'number') return -1; if (pos + 8 > n) return -1; buf.writeDoubleLE(${x}, pos); pos += 8;`;
      case 'string': {
        const avscType = this.constant(type);
        // Short strings byte by byte. Longer ones in one native call, with room for four bytes
        // more than the string's length: it writes exactly that many bytes only when every
        // character is one byte (ASCII), else at least one more (or stops short, never at it).
        // Anything else: avsc's writer.
        return `
          if (typeof ${x} !== 'string') return -1;
          len = ${x}.length;
          i = -1;
          if (len < 64 && pos + 5 + len <= n) {
            if (len < 16) {
              for (i = 0; i < len; i++) { c = ${x}.charCodeAt(i); if (c > 0x7f) break; buf[pos + 1 + i] = c; }
            } else {
              i = buf.utf8Write(${x}, pos + 1, len + 4);
            }
          }
          if (i === len) { buf[pos] = len << 1; pos += 1 + len; }
          else { pos = avscString(${x}, buf, pos, ${avscType}); if (pos < 0) return -1; }`;
      }
      case 'bytes':
        return `if (!Buffer.isBuffer(${x})) return -1; len = ${x}.length; ${this.varint('len')}
          if (pos + len > n) return -1; ${x}.copy(buf, pos); pos += len;`;
      case 'fixed': {
        const size = (type as unknown as { size: number }).size;
        return `if (!Buffer.isBuffer(${x}) || ${x}.length !== ${size}) return -1; if (pos + ${size} > n) return -1; ${x}.copy(buf, pos); pos += ${size};`;
      }
      case 'enum': {
        const symbols = (type as unknown as { symbols: string[] }).symbols;
        const indices = this.constant(new Map(symbols.map((s, i) => [s, i])));
        return `i = ${indices}.get(${x}); if (i === undefined) return -1; ${this.varint('i')}`;
      }
      case 'record':
      case 'error':
        return this.record(type, x);
      case 'union:unwrapped':
        return this.union(type, x);
      default:
        // Arrays, maps, wrapped unions, logical types: avsc's.
        throw new Unsupported(t.typeName);
    }
  }

  private record(type: avro.Type, x: string): string {
    if (this.records.has(type)) throw new Unsupported('recursive record');
    this.records.add(type);
    const fields = (type as unknown as { fields: { name: string; type: avro.Type }[] }).fields;
    const parts: string[] = [`if (typeof ${x} !== 'object' || ${x} === null) return -1;`];
    for (const field of fields) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field.name) || field.name === '__proto__') throw new Unsupported('field name');
      const v = `x${this.vars++}`;
      // An undefined field: avsc writes its default (or refuses the record).
      parts.push(`${v} = ${x}[${JSON.stringify(field.name)}]; if (${v} === undefined) return -1;`);
      parts.push(this.write(field.type, v));
    }
    this.records.delete(type);
    return parts.join('\n');
  }

  private union(type: avro.Type, x: string): string {
    const branches = (type as unknown as { types: avro.Type[] }).types;
    const cases: string[] = [];
    const seen = new Set<string>();
    branches.forEach((branch, index) => {
      const bucket = bucketFor(branch);
      if (seen.has(bucket)) throw new Unsupported('ambiguous union');
      seen.add(bucket);
      const value = bucket === 'null' ? '' : this.write(branch, x);
      cases.push(`case ${JSON.stringify(bucket)}: { i = ${index}; ${this.varint('i')} ${value} break; }`);
    });
    return `switch (bucketOf(${x})) { ${cases.join('\n')} default: return -1; }`;
  }
}
