import { pathToFileURL } from 'node:url';
import { toUpcasterMap, type Event, type UpcasterMap } from '../core/index.js';
import { ReprocessError, errorMessage } from '../errors.js';

/** What a transform sees besides the event: where it came from. */
/**
 * Where the event came from. `offset`, `timestamp` and `key` are getters, made only when read (a
 * string and a Buffer per record were measurable): `{ ...ctx }` leaves them out, while
 * JSON.stringify (and so a logger) shows all six.
 */
export interface TransformContext {
  topic: string;
  partition: number;
  offset: string;
  /** Source record timestamp, epoch ms as a decimal string. */
  timestamp: string;
  key: Buffer | null;
  /** The schema version the event was written in (before upcasting). */
  version: number;
}

/** A transform returns one record, several, or null to drop the event (counted as filtered). */
export type Transform = (event: Event, ctx: TransformContext) => unknown;

async function importModule(path: string, label: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const ts = path.endsWith('.ts') || path.endsWith('.mts');
    throw new ReprocessError('SPEC_INVALID', `${label} (${path}) could not be loaded: ${errorMessage(err)}`, {
      hint: ts
        ? 'TypeScript modules are loaded by Node\'s type stripping (Node 22.18+): use only erasable syntax (no enums or namespaces) and import other .ts files with their .ts extension.'
        : 'Check that the module is valid ESM and its imports resolve.',
      cause: err,
    });
  }
}

export async function loadTransform(path: string): Promise<Transform> {
  const mod = await importModule(path, 'transform');
  const fn = mod.default ?? mod.transform;
  if (typeof fn !== 'function') {
    throw new ReprocessError('SPEC_INVALID', `transform (${path}) has no default export function.`, {
      hint: 'Write: export default function transform(event, ctx) { return { ...record } } — return a record, an array of records, or null.',
    });
  }
  return fn as Transform;
}

export async function loadUpcasters(path: string): Promise<UpcasterMap> {
  const mod = await importModule(path, 'upcast.module');
  return Object.fromEntries(toUpcasterMap(mod, `upcast.module (${path})`));
}
