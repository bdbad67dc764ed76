// One import point for the unit tests: the public API of the core plus small test helpers.
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { isReprocessError, type ErrorCode, type ReprocessError } from '../../src/errors.js';

export * from '../../src/core/index.js';
export { ReprocessError } from '../../src/errors.js';
import type { ChunkRecords } from '../../src/replay/process.js';

/** Run fn, expect a ReprocessError with this code, and return it for further checks. */
export function catchError(fn: () => unknown, code: ErrorCode): ReprocessError {
  try {
    fn();
  } catch (err) {
    if (isReprocessError(err, code)) return err;
    throw new Error(`expected ReprocessError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  throw new Error(`expected ReprocessError ${code}, but nothing was thrown`);
}

/** A small deterministic generator, so a failure names a reproducible case. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Alphabets for random Avro strings: ASCII, two- and three-byte UTF-8, astral (surrogate pairs),
 * the edges of each UTF-8 length, Latin-1 letters, and lone surrogates.
 */
export const STRING_ALPHABETS = ['abcXYZ019-:/ ', 'aé€ü', 'a\u{1F600}b', '\u0000\u007f\u0080\u07ff\u0800', 'ÿþ', '\ud800x\udc00'];

/** A random string of the n-th alphabet (in turn), now and then longer than 64 characters. */
export function randomString(next: () => number, n: number, alphabets: readonly string[] = STRING_ALPHABETS): string {
  const alphabet = [...(alphabets[n % alphabets.length] as string)];
  const length = Math.floor(next() * (n % 4 === 0 ? 150 : 70));
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)] as string;
  return s;
}

/**
 * A random whole number for an Avro long, of any size up to 2^51 (beyond it avsc's own writer
 * loses precision on negative longs, whose zigzag form passes 2^53), never -0 (Avro cannot carry it).
 */
export function randomLong(next: () => number): number {
  const scale = [1, 1e3, 2 ** 30, 2 ** 31, 2 ** 40, 2 ** 51][Math.floor(next() * 6)] as number;
  return Math.round((next() * 2 - 1) * scale) + 0;
}

const requireHere = createRequire(import.meta.url);

/** A kafkajs module as shipped, compiled afresh, whatever the module cache holds (the fast path replaces some). */
export function originalKafkajs<T>(id: string): T {
  const filename = requireHere.resolve(id);
  const m = new Module(filename) as Module & { _compile(code: string, filename: string): void; paths: string[] };
  m.filename = filename;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(filename.replace(/\/[^/]*$/, ''));
  m._compile(readFileSync(filename, 'utf8'), filename);
  return m.exports as T;
}

/** A chunk's records as the texts and bytes processChunk sees (offset, timestamp, key and value in hex, or null). */
export function chunkRows(c: ChunkRecords): [string, string, string | null, string | null][] {
  const rows: [string, string, string | null, string | null][] = [];
  const bytes = (start: number, length: number): string | null => (length < 0 ? null : c.buffer.subarray(start, start + length).toString('hex'));
  for (let n = 0; n < c.offsets.length; n++) {
    const i = n * 4;
    rows.push([String(c.offsets[n]), String(c.timestamps[n]), bytes(c.index[i] as number, c.index[i + 1] as number), bytes(c.index[i + 2] as number, c.index[i + 3] as number)]);
  }
  return rows;
}
