// One import point for the unit tests: the public API of the core plus small test helpers.
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { isReprocessError, type ErrorCode, type ReprocessError } from '../../src/errors.js';

export * from '../../src/core/index.js';
export { ReprocessError } from '../../src/errors.js';

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
