import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReprocessError } from '../errors.js';

/**
 * The package root: the nearest directory above this module that holds a package.json. Walking
 * up (rather than a fixed '../..') works from src/ under tsx or vitest, from the built dist/,
 * and from node_modules/kafka-reprocessor when installed as a dependency.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ReprocessError('INTERNAL', `no package.json above ${fileURLToPath(import.meta.url)}: cannot locate the package's examples`, {
        hint: 'Run kafka-reprocessor from its package directory or an installed copy of the package.',
      });
    }
    dir = parent;
  }
}

/** Absolute path of examples/user_engagement, the demo's job. */
export function exampleDir(): string {
  return join(packageRoot(), 'examples', 'user_engagement');
}

/** Absolute path of the raw events' Avro schema for a source version (1 or 2). */
export function eventSchemaPath(version: 1 | 2): string {
  return join(exampleDir(), 'schemas', `events-v${String(version)}.avsc`);
}
