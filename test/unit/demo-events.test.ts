import { existsSync } from 'node:fs';
import { join } from 'node:path';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  DEMO_DISTRIBUTIONS,
  DEMO_HISTORY,
  DEMO_LEGACY_NAMESPACE,
  POISON_KINDS,
  exampleDir,
  generateEvents,
  mulberry32,
  readSchema,
  type GenerateOptions,
  type GeneratedEvent,
} from '../../src/demo/index.js';
import { buildUpcastChain, isUuid, uuidv5 } from './helpers.js';

const DAY = 86_400_000;
// 30 days around the cutover: 20 days of v1, 10 of v2.
const base: GenerateOptions = { start: Date.UTC(2023, 4, 12), days: 30, perDay: 1500, cutover: Date.UTC(2023, 5, 1) };
const all = (o: GenerateOptions): GeneratedEvent[] => [...generateEvents(o)];
const events = all(base);

function share<T>(list: readonly GeneratedEvent[], pick: (e: GeneratedEvent) => T): Map<T, number> {
  const m = new Map<T, number>();
  for (const e of list) m.set(pick(e), (m.get(pick(e)) ?? 0) + 1);
  for (const [k, n] of m) m.set(k, n / list.length);
  return m;
}

function weightShares<T>(choices: readonly (readonly [T, number])[]): Map<T, number> {
  const total = choices.reduce((s, [, w]) => s + w, 0);
  return new Map(choices.map(([v, w]) => [v, w / total]));
}

describe('generateEvents', () => {
  it('gives the same events for the same options, and other events for another seed', () => {
    expect(all(base)).toEqual(events);
    const other = all({ ...base, seed: 7 });
    expect(other).toHaveLength(events.length);
    expect(other.slice(0, 50)).not.toEqual(events.slice(0, 50));
  });

  it('makes each day depend only on the seed and the day, so a shorter window is a slice of a longer one', () => {
    const slice = all({ ...base, start: base.start + 10 * DAY, days: 5 });
    expect(slice).toEqual(events.slice(10 * base.perDay, 15 * base.perDay));
  });

  it('yields perDay events a day, in timestamp order, inside the window, with timestamp = event_time', () => {
    expect(events).toHaveLength(base.days * base.perDay);
    const unordered = events.filter((e, i) => i > 0 && e.timestamp < (events[i - 1]?.timestamp ?? 0));
    expect(unordered).toEqual([]);
    expect(events.filter((e) => e.event.event_time !== e.timestamp)).toEqual([]);
    const last = events.at(-1)?.timestamp ?? 0;
    expect(events[0]?.timestamp).toBeGreaterThanOrEqual(base.start);
    expect(last).toBeLessThan(base.start + base.days * DAY);
  });

  it('writes v1 (integer ids, keyed by the integer) before the cutover and v2 (UUIDs) from it', () => {
    const v1 = events.filter((e) => e.version === 1);
    const v2 = events.filter((e) => e.version === 2);
    expect(v1).toHaveLength(20 * base.perDay);
    expect(v2).toHaveLength(10 * base.perDay);
    // Collected, not asserted per event: 45,000 expect calls take seconds.
    const wrongV1 = v1.filter((e) => !(e.timestamp < base.cutover && e.event.schema_version === 1 && Number.isSafeInteger(e.event.user_id) && e.key === String(e.event.user_id)));
    const wrongV2 = v2.filter((e) => !(e.timestamp >= base.cutover && e.event.schema_version === 2 && isUuid(e.event.user_id) && e.key === e.event.user_id));
    expect(wrongV1.slice(0, 3)).toEqual([]);
    expect(wrongV2.slice(0, 3)).toEqual([]);
  });

  it('writes every event (poison included) valid for the schema of its version', () => {
    const types = { 1: avsc.Type.forSchema(readSchema(1) as avsc.Schema), 2: avsc.Type.forSchema(readSchema(2) as avsc.Schema) };
    const poisoned = all({ ...base, days: 21, poisonEvery: 50 }).slice(19 * base.perDay);
    expect(new Set(poisoned.map((e) => e.version))).toEqual(new Set([1, 2]));
    for (const e of [...events, ...poisoned]) {
      const type = types[e.version];
      if (!type.isValid(e.event)) throw new Error(`event ${JSON.stringify(e)} is not valid for events-v${e.version}`);
    }
  });

  it('skews countries, segments, categories and event types roughly as configured', () => {
    const tolerance = (p: number): number => Math.max(0.01, p * 0.12);
    for (const [dist, pick] of [
      [DEMO_DISTRIBUTIONS.countries, (e: GeneratedEvent) => e.event.country],
      [DEMO_DISTRIBUTIONS.segments, (e: GeneratedEvent) => e.event.user_segment],
      [DEMO_DISTRIBUTIONS.categories, (e: GeneratedEvent) => e.event.product_category],
    ] as const) {
      const observed = share(events, pick);
      for (const [value, expected] of weightShares<unknown>(dist)) {
        const got = observed.get(value) ?? 0;
        if (Math.abs(got - expected) > tolerance(expected)) throw new Error(`${String(value)}: ${got} is not ≈ ${expected}`);
      }
    }
    const nullCountry = share(events, (e) => e.event.country).get(null) ?? 0;
    expect(nullCountry).toBeGreaterThan(0.002);
    expect(nullCountry).toBeLessThan(0.01);
    const types = share(events, (e) => e.event.event_type);
    expect(types.get('purchase')).toBeGreaterThan(0.065);
    expect(types.get('purchase')).toBeLessThan(0.095);
    expect(types.get('signup')).toBeGreaterThan(0.005);
    expect(types.get('view')).toBeGreaterThan(0.55);
  });

  it('puts revenue on purchases only, in the currency of the user country', () => {
    const currencies: Record<string, string> = { US: 'USD', BR: 'BRL', IN: 'INR', JP: 'JPY', DE: 'EUR', GB: 'GBP' };
    const wrong = events.filter(({ event }) => {
      const revenueOk = event.event_type === 'purchase' ? typeof event.revenue === 'number' && event.revenue > 0 : event.revenue === null;
      const expected = event.country === null ? 'USD' : currencies[String(event.country)];
      return !revenueOk || (expected !== undefined && event.currency !== expected);
    });
    expect(wrong.slice(0, 3)).toEqual([]);
    const jpy = events.filter((e) => e.event.currency === 'JPY' && e.event.revenue !== null);
    expect(jpy.length).toBeGreaterThan(0);
    for (const e of jpy) expect(Number.isInteger(e.event.revenue)).toBe(true);
  });

  it('draws from a few thousand users whose keys repeat, each keeping its country and segment', () => {
    const keys = share(events, (e) => e.key);
    expect(keys.size).toBeGreaterThan(2000);
    expect(keys.size).toBeLessThanOrEqual(2 * 5000);
    const profile = new Map<unknown, string>();
    const changed = events.filter(({ event }) => {
      const p = `${String(event.country)}/${String(event.user_segment)}`;
      const before = profile.get(event.user_id) ?? p;
      profile.set(event.user_id, p);
      return before !== p;
    });
    expect(changed).toEqual([]);
  });

  it('gives a user the same identity across the cutover: the legacy-id upcaster maps its v1 integer to its v2 UUID', () => {
    const upcast = buildUpcastChain({
      legacyIds: { fields: ['user_id'], upTo: 1, namespace: DEMO_LEGACY_NAMESPACE },
      versionField: 'schema_version',
      latestVersion: 2,
    });
    const v2Profiles = new Map<unknown, string>();
    for (const e of events) if (e.version === 2) v2Profiles.set(e.event.user_id, `${String(e.event.country)}/${String(e.event.user_segment)}`);
    let matched = 0;
    for (const e of events) {
      if (e.version !== 1) continue;
      const lifted = upcast(e.event, 1).event;
      if (lifted.user_id !== uuidv5(String(e.event.user_id), DEMO_LEGACY_NAMESPACE)) throw new Error(`user ${String(e.event.user_id)} lifted to ${String(lifted.user_id)}`);
      const after = v2Profiles.get(lifted.user_id);
      if (after === undefined) continue;
      matched++;
      if (after !== `${String(e.event.country)}/${String(e.event.user_segment)}`) throw new Error(`user ${String(e.event.user_id)} changed profile across the cutover`);
    }
    // Most v1 events belong to users who are active after the cutover too.
    expect(matched).toBeGreaterThan(0.5 * 20 * base.perDay);
  });

  it('poisons every poisonEvery-th event, taking the four kinds in turn', () => {
    const poisoned = all({ ...base, poisonEvery: 100 });
    const bad = poisoned.filter((e) => e.poison !== undefined);
    expect(bad).toHaveLength(poisoned.length / 100);
    const kinds = share(bad, (e) => e.poison);
    for (const kind of POISON_KINDS) expect(kinds.get(kind)).toBeCloseTo(0.25, 1);
    for (const e of bad.filter((x) => x.poison === 'bad-fx')) {
      expect(e.event).toMatchObject({ event_type: 'purchase', currency: 'XXX' });
      expect(e.event.revenue).toBeGreaterThan(0);
    }
    // Poison does not change which events exist, only what is spoiled.
    expect(poisoned.map((e) => e.event.event_id)).toEqual(events.map((e) => e.event.event_id));
    expect(events.some((e) => e.poison !== undefined)).toBe(false);
    expect(all({ ...base, days: 2, poisonEvery: 0 }).some((e) => e.poison !== undefined)).toBe(false);
  });

  it('refuses nonsense options before generating anything', () => {
    expect(() => all({ ...base, days: -1 })).toThrow(/days must be/);
    expect(() => all({ ...base, perDay: 1.5 })).toThrow(/perDay must be/);
    expect(() => all({ ...base, poisonEvery: -3 })).toThrow(/poisonEvery/);
    expect(() => all({ ...base, users: 0 })).toThrow(/users must be/);
  });
});

describe('demo helpers', () => {
  it('mulberry32 is deterministic and uniform-looking', () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('exampleDir finds examples/user_engagement from the package root', () => {
    expect(existsSync(join(exampleDir(), 'job.yaml'))).toBe(true);
    expect(existsSync(join(exampleDir(), 'schemas', 'events-v1.avsc'))).toBe(true);
  });

  it('DEMO_HISTORY straddles the cutover on whole UTC days', () => {
    expect(DEMO_HISTORY.start % DAY).toBe(0);
    expect(DEMO_HISTORY.cutover).toBeGreaterThan(DEMO_HISTORY.start);
    expect(DEMO_HISTORY.cutover).toBeLessThan(DEMO_HISTORY.start + DEMO_HISTORY.days * DAY);
  });
});
