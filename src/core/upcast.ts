import { ReprocessError } from '../errors.js';
import { DecodeError } from './decode-error.js';
import { isUuid, uuidv5 } from './uuid.js';

export type Event = Record<string, unknown>;

/** Lifts an event of schema version k to version k+1. It may return a new object or the same one. */
export type Upcaster = (event: Event) => Event;

/** Upcasters keyed by the version they lift FROM: key k lifts k → k+1. */
export type UpcasterMap = Record<number, Upcaster>;

/** The built-in upcaster for integer ids that later versions carry as UUID strings. */
export interface LegacyIdsOptions {
  fields: string[];
  /** Events of versions ≤ upTo carry integer ids. */
  upTo: number;
  /** UUIDv5 namespace: id n becomes uuidv5(String(n), namespace). */
  namespace: string;
}

export interface UpcastChainOptions {
  legacyIds?: LegacyIdsOptions | null;
  modules?: UpcasterMap | null;
  /** The event field that holds its schema version; set to the final version on output. */
  versionField: string;
  /** The newest version events are lifted to; above it a version is unknown. Default: one past the highest upcaster key. */
  latestVersion?: number;
}

export interface Upcasted {
  event: Event;
  version: number;
}

/**
 * `owned`: the caller hands the event over (a freshly decoded one nobody else holds), so the chain
 * may change it in place instead of copying it first.
 */
export type UpcastFn = (event: Event, version: number, owned?: boolean) => Upcasted;

/**
 * Build the per-event upcast function. Order for an event of version v:
 *   1. when v ≤ legacyIds.upTo, the legacy id fields are mapped to UUIDs (so user upcasters
 *      always see UUID ids);
 *   2. user upcasters v, v+1, … lift it to the newest version. A version with no upcaster is
 *      lifted unchanged: Avro schema resolution already fills added fields with their defaults.
 * The caller's event object is never mutated, unless handed over (`owned`). Failures are DecodeErrors, so the record goes to the DLQ.
 */
export function buildUpcastChain(options: UpcastChainOptions): UpcastFn {
  const upcasters = options.modules ? toUpcasterMap(options.modules, 'upcast.module') : new Map<number, Upcaster>();
  const highestKey = Math.max(0, ...upcasters.keys());
  const latest = options.latestVersion;
  if (latest !== undefined) {
    if (!Number.isInteger(latest) || latest < 1) {
      throw new ReprocessError('INTERNAL', `latestVersion must be a positive integer, got ${String(latest)}`);
    }
    if (highestKey >= latest) {
      throw new ReprocessError(
        'SPEC_INVALID',
        `upcast.module has an upcaster for version ${String(highestKey)}, which would lift events past the newest version ${String(latest)}`,
        { hint: 'Remove that upcaster, or raise the newest version.' },
      );
    }
  }
  const legacy = options.legacyIds ?? null;
  if (legacy && !isUuid(legacy.namespace)) {
    throw new ReprocessError('SPEC_INVALID', `upcast.legacyIds.namespace "${legacy.namespace}" is not a UUID`, {
      hint: 'Give the namespace as 8-4-4-4-12 hex digits.',
    });
  }

  return (input, version, owned = false) => {
    if (!Number.isInteger(version) || version < 1 || (latest !== undefined && version > latest)) {
      const known = latest === undefined ? 'a positive integer' : `1..${String(latest)}`;
      throw new DecodeError('unknown-version', `event has ${options.versionField}=${String(version)}; known versions are ${known}`, {
        hint: 'Add an upcaster for that version, or fix the producer that wrote it.',
        context: { version: String(version) },
      });
    }
    let event: Event = owned ? input : { ...input };
    if (legacy && version <= legacy.upTo) {
      for (const field of legacy.fields) {
        if (!(field in event)) continue;
        try {
          event[field] = legacyIdToUuid(event[field], field, legacy.namespace);
        } catch (err) {
          if (err instanceof DecodeError) err.context.version = version;
          throw err;
        }
      }
    }
    const target = latest ?? Math.max(version, highestKey + 1);
    for (let v = version; v < target; v++) {
      const lift = upcasters.get(v);
      if (!lift) continue;
      let out: unknown;
      try {
        out = lift(event);
      } catch (err) {
        throw new DecodeError('upcaster-failed', `upcaster ${String(v)}→${String(v + 1)} threw: ${describe(err)}`, {
          cause: err,
          hint: 'Fix the upcaster in upcast.module; the record was sent to the DLQ.',
          context: { version },
        });
      }
      if (!isEvent(out)) {
        throw new DecodeError('upcaster-failed', `upcaster ${String(v)}→${String(v + 1)} returned ${typeName(out)}, not an event object`, {
          hint: 'An upcaster must return the lifted event as a plain object.',
          context: { version },
        });
      }
      event = out;
    }
    event[options.versionField] = target;
    return { event, version: target };
  };
}

/** Map one legacy id value: integers (number, bigint, numeric string) become UUIDv5; null and UUIDs pass. */
export function legacyIdToUuid(value: unknown, field: string, namespace: string): unknown {
  // The common case first: an integer id met before (no regex, no BigInt, no string key).
  const byNumber = typeof value === 'number' && Number.isSafeInteger(value) ? numberCacheFor(namespace) : null;
  if (byNumber) {
    const hit = byNumber.get(value as number);
    if (hit !== undefined) return hit;
  }
  if (value === null || value === undefined || isUuid(value)) return value;
  let n: bigint | null = null;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) n = BigInt(value);
  if (n === null) {
    throw new DecodeError('bad-legacy-id', `legacy id field ${field} holds ${typeName(value)} ${JSON.stringify(String(value))}, neither an integer nor a UUID`, {
      hint: 'Legacy id fields must hold integers (or UUIDs already); fix the event or the upcast.legacyIds.fields list.',
    });
  }
  // Canonical decimal, so 7, 7n and "007" are the same id and get the same UUID.
  const name = n.toString();
  const cacheKey = `${namespace}/${name}`;
  let uuid = legacyCache.get(cacheKey);
  if (uuid === undefined) {
    uuid = uuidv5(name, namespace);
    // Users repeat across events: remember recent ids (a SHA-1 per event was ~9% of replay CPU).
    if (legacyCache.size >= LEGACY_CACHE_MAX) legacyCache.clear();
    legacyCache.set(cacheKey, uuid);
  }
  if (byNumber) {
    if (byNumber.size >= LEGACY_CACHE_MAX) byNumber.clear();
    byNumber.set(value as number, uuid);
  }
  return uuid;
}

const LEGACY_CACHE_MAX = 100_000;
const legacyCache = new Map<string, string>();
/** Per namespace, integer ids given as numbers (how Avro longs and ints decode). */
const numberCaches = new Map<string, Map<number, string>>();
function numberCacheFor(namespace: string): Map<number, string> {
  let m = numberCaches.get(namespace);
  if (!m) numberCaches.set(namespace, (m = new Map()));
  return m;
}

/**
 * Validate a user's upcaster module: accepts the module namespace (`{ default: {...} }`) or the
 * map itself; keys must be positive integers and values functions.
 */
export function toUpcasterMap(mod: unknown, label: string): Map<number, Upcaster> {
  const source = isEvent(mod) && isEvent(mod.default) ? mod.default : mod;
  if (!isEvent(source)) {
    throw new ReprocessError('SPEC_INVALID', `${label} must export an object of upcasters keyed by version, got ${typeName(source)}`, {
      hint: 'Write: export default { 1: (event) => ({ ...event, field: ... }) } — key k lifts version k to k+1.',
    });
  }
  const map = new Map<number, Upcaster>();
  const problems: string[] = [];
  for (const [key, fn] of Object.entries(source)) {
    if (!/^[1-9][0-9]*$/.test(key)) problems.push(`key "${key}" is not a positive integer version`);
    else if (typeof fn !== 'function') problems.push(`key ${key} is ${typeName(fn)}, not a function`);
    else map.set(Number(key), fn as Upcaster);
  }
  if (problems.length > 0) {
    throw new ReprocessError('SPEC_INVALID', `${label} is invalid:\n  ${problems.join('\n  ')}`, {
      hint: 'Key each upcaster by the version it lifts from (key k lifts k → k+1).',
    });
  }
  return map;
}

/** The event's schema version from its version field, or null when absent or not an integer. */
export function readVersion(event: Event, versionField: string): number | null {
  const v = event[versionField];
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return Number(v);
  return null;
}

function isEvent(value: unknown): value is Event {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
