import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  buildUpcastChain,
  catchError,
  isUuid,
  readVersion,
  toUpcasterMap,
  uuidv5,
  type UpcasterMap,
} from './helpers.js';

const NS = '6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15';
const legacyIds = { fields: ['user_id', 'referrer_id'], upTo: 1, namespace: NS };

const reasonOf = (fn: () => unknown): string => {
  const err = catchError(fn, 'DECODE_FAILED');
  return err instanceof DecodeError ? err.reason : 'not a DecodeError';
};

describe('legacy id mapping', () => {
  const upcast = buildUpcastChain({ legacyIds, versionField: 'schema_version', latestVersion: 2 });

  it('maps integer ids of old versions to UUIDv5 under the namespace', () => {
    const { event, version } = upcast({ schema_version: 1, user_id: 42, referrer_id: null, country: 'DE' }, 1);
    expect(version).toBe(2);
    expect(event).toEqual({ schema_version: 2, user_id: uuidv5('42', NS), referrer_id: null, country: 'DE' });
    expect(event.user_id).toBe('79f69249-b6ee-5470-ab45-54b0d2f7c91c');
  });

  it('is deterministic across number, bigint and numeric-string forms', () => {
    const forms: unknown[] = [7, 7n, '7', '007'];
    const ids = forms.map((user_id) => upcast({ user_id }, 1).event.user_id);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(uuidv5('7', NS));
  });

  it('answers a number met before the same way, in its own namespace only', () => {
    const other = buildUpcastChain({ legacyIds: { ...legacyIds, namespace: '0b1e1d8c-6a5f-4b61-9b1e-3c2d1f0e9a87' }, versionField: 'schema_version', latestVersion: 2 });
    const first = upcast({ user_id: 123_456 }, 1).event.user_id;
    expect(upcast({ user_id: 123_456 }, 1).event.user_id).toBe(first);
    expect(first).toBe(uuidv5('123456', NS));
    expect(other({ user_id: 123_456 }, 1).event.user_id).toBe(uuidv5('123456', '0b1e1d8c-6a5f-4b61-9b1e-3c2d1f0e9a87'));
    expect(other({ user_id: 123_456 }, 1).event.user_id).not.toBe(first);
  });

  it('gives distinct ids to distinct integers', () => {
    const ids = new Set(Array.from({ length: 1000 }, (_, i) => upcast({ user_id: i }, 1).event.user_id));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isUuid(id)).toBe(true);
  });

  it('leaves UUIDs, nulls and newer versions alone', () => {
    const uuid = '0b1e1d8c-6a5f-4b61-9b1e-3c2d1f0e9a87';
    expect(upcast({ user_id: uuid }, 1).event.user_id).toBe(uuid);
    expect(upcast({ user_id: null }, 1).event.user_id).toBeNull();
    // A v2 event is not touched by the mapping, even if it (wrongly) holds an integer.
    expect(upcast({ user_id: 42 }, 2).event.user_id).toBe(42);
  });

  it('sends ids that are neither integers nor UUIDs to the DLQ', () => {
    expect(reasonOf(() => upcast({ user_id: 1.5 }, 1))).toBe('bad-legacy-id');
    expect(reasonOf(() => upcast({ user_id: 'abc' }, 1))).toBe('bad-legacy-id');
    expect(reasonOf(() => upcast({ user_id: { nested: 1 } }, 1))).toBe('bad-legacy-id');
  });

  it('does not mutate the caller\'s event', () => {
    const input = { schema_version: 1, user_id: 42 };
    upcast(input, 1);
    expect(input).toEqual({ schema_version: 1, user_id: 42 });
  });

  it('changes an event handed over in place, with the same result', () => {
    const input = { schema_version: 1, user_id: 42 };
    const { event } = upcast(input, 1, true);
    expect(event).toBe(input);
    expect(event).toEqual(upcast({ schema_version: 1, user_id: 42 }, 1).event);
  });
});

describe('upcaster chain', () => {
  const calls: number[] = [];
  const modules: UpcasterMap = {
    1: (e) => {
      calls.push(1);
      return { ...e, steps: [...(e.steps as number[]), 1] };
    },
    3: (e) => {
      calls.push(3);
      return { ...e, steps: [...(e.steps as number[]), 3], price_cents: Math.round(Number(e.price) * 100) };
    },
  };
  const upcast = buildUpcastChain({ legacyIds, modules, versionField: 'v', latestVersion: 4 });

  it('applies the legacy mapping first, then each upcaster from the event\'s version up', () => {
    calls.length = 0;
    const { event, version } = upcast({ v: 1, user_id: 5, steps: [], price: 1.25 }, 1);
    expect(version).toBe(4);
    expect(event).toMatchObject({ v: 4, user_id: uuidv5('5', NS), steps: [1, 3], price_cents: 125 });
    expect(calls).toEqual([1, 3]); // version 2 has no upcaster: lifted unchanged
  });

  it('starts at the event\'s own version and passes the newest version through', () => {
    expect(upcast({ v: 3, steps: [], price: 2 }, 3).event.steps).toEqual([3]);
    expect(upcast({ v: 4, steps: [] }, 4)).toEqual({ event: { v: 4, steps: [] }, version: 4 });
  });

  it('rejects unknown versions with reason unknown-version', () => {
    for (const v of [0, -1, 1.5, 5, Number.NaN]) expect(reasonOf(() => upcast({ steps: [] }, v))).toBe('unknown-version');
  });

  it('without latestVersion, lifts to one past the highest upcaster and passes newer versions through', () => {
    const chain = buildUpcastChain({ modules: { 1: (e) => ({ ...e, a: 1 }) }, versionField: 'schema_version' });
    expect(chain({}, 1)).toEqual({ event: { a: 1, schema_version: 2 }, version: 2 });
    expect(chain({ b: 1 }, 7)).toEqual({ event: { b: 1, schema_version: 7 }, version: 7 });
    expect(reasonOf(() => chain({}, 0))).toBe('unknown-version');
  });

  it('turns a throwing or misbehaving upcaster into a DLQ-able DecodeError with its cause', () => {
    const boom = new Error('boom');
    const chain = buildUpcastChain({
      modules: {
        1: () => {
          throw boom;
        },
        2: () => null as unknown as Record<string, unknown>,
      },
      versionField: 'v',
    });
    const err = catchError(() => chain({}, 1), 'DECODE_FAILED');
    expect(err instanceof DecodeError && err.reason).toBe('upcaster-failed');
    expect(err.cause).toBe(boom);
    expect(err.message).toContain('1→2');
    expect(reasonOf(() => chain({}, 2))).toBe('upcaster-failed');
  });

  it('refuses an upcaster beyond the newest version at build time', () => {
    const err = catchError(() => buildUpcastChain({ modules: { 3: (e) => e }, versionField: 'v', latestVersion: 3 }), 'SPEC_INVALID');
    expect(err.message).toContain('version 3');
  });
});

describe('toUpcasterMap', () => {
  it('accepts a module namespace with a default export or a bare map', () => {
    const fn = (e: Record<string, unknown>): Record<string, unknown> => e;
    expect([...toUpcasterMap({ default: { 1: fn, 2: fn } }, 'm').keys()]).toEqual([1, 2]);
    expect([...toUpcasterMap({ 3: fn }, 'm').keys()]).toEqual([3]);
  });

  it('lists every bad key', () => {
    const err = catchError(() => toUpcasterMap({ default: { v1: () => ({}), 0: () => ({}), 2: 'nope' } }, 'upcast.module'), 'SPEC_INVALID');
    expect(err.message).toContain('"v1"');
    expect(err.message).toContain('"0"');
    expect(err.message).toContain('key 2 is string');
    catchError(() => toUpcasterMap(42, 'upcast.module'), 'SPEC_INVALID');
  });
});

describe('readVersion', () => {
  it('reads integer versions in number, bigint and string form', () => {
    expect(readVersion({ schema_version: 2 }, 'schema_version')).toBe(2);
    expect(readVersion({ schema_version: 3n }, 'schema_version')).toBe(3);
    expect(readVersion({ schema_version: '1' }, 'schema_version')).toBe(1);
    expect(readVersion({}, 'schema_version')).toBeNull();
    expect(readVersion({ schema_version: 'two' }, 'schema_version')).toBeNull();
  });
});
