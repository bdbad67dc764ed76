import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import { DEMO_HISTORY, DEMO_LEGACY_NAMESPACE, DEMO_SOURCE_TOPIC, exampleDir, generateEvents, readSchema } from '../../src/demo/index.js';
import type { SourceEvent, TransformContext } from '../../examples/user_engagement/transforms/types.js';
import { dailyRate, monthlyRate, previousMonth, utcDay, utcMonth } from '../../examples/user_engagement/transforms/fx.js';
import transformV2 from '../../examples/user_engagement/transforms/v2.js';
import transformV3 from '../../examples/user_engagement/transforms/v3.js';
import { buildUpcastChain, loadJobSpec, parseExpected, toUpcasterMap, uuidv5 } from './helpers.js';

const dir = exampleDir();
const DAY = 86_400_000;
const schemaType = (name: string): avsc.Type =>
  avsc.Type.forSchema(JSON.parse(readFileSync(join(dir, 'schemas', name), 'utf8')) as avsc.Schema);

const ctx = (version: number): TransformContext => ({ topic: 'events', partition: 0, offset: '0', timestamp: '0', key: null, version });
const sample = (over: Partial<SourceEvent> = {}): SourceEvent => ({
  schema_version: 2,
  event_id: '0b9e2d4c-1111-4aaa-8bbb-123456789abc',
  user_id: uuidv5('1000001', DEMO_LEGACY_NAMESPACE),
  event_type: 'purchase',
  country: 'BR',
  product_category: 'electronics',
  user_segment: 'vip',
  revenue: 250,
  currency: 'BRL',
  event_time: Date.UTC(2023, 4, 17, 15, 30),
  ...over,
});

describe('examples/user_engagement job specs', () => {
  it('job.yaml loads: v3 over the demo history, compared with v2, auto-promoted', async () => {
    const spec = await loadJobSpec(join(dir, 'job.yaml'));
    expect(spec).toMatchObject({
      dataset: 'user_engagement',
      version: 3,
      sinkTopic: 'user_engagement_v3',
      source: { topic: DEMO_SOURCE_TOPIC, versionField: 'schema_version' },
      window: { kind: 'time', fromMs: DEMO_HISTORY.start, toMs: DEMO_HISTORY.start + DEMO_HISTORY.days * DAY },
      upcast: { legacyIds: { fields: ['user_id'], upTo: 1, namespace: DEMO_LEGACY_NAMESPACE }, modulePath: join(dir, 'upcasters.ts') },
      transformPath: join(dir, 'transforms', 'v3.ts'),
      output: { schemaPath: join(dir, 'schemas', 'user_engagement-v3.avsc'), key: 'user_id' },
      dlq: { maxRatio: 0.01 },
      rate: { recordsPerSec: 20000 },
      promote: 'auto',
    });
    expect(spec.validate).toMatchObject({
      against: 2,
      dimensions: ['country', 'product_category', 'user_segment'],
      measures: ['revenue_usd'],
      nulls: ['country'],
    });
    expect(spec.validate.expected?.items).toEqual([
      expect.objectContaining({ dimension: 'country', value: 'BR', metric: 'revenue_usd', max: 0.03 }),
    ]);
  });

  it('job-v2.yaml loads: the live v2 over the same window, with the same legacy id mapping and no comparison', async () => {
    const [v2, v3] = await Promise.all([loadJobSpec(join(dir, 'job-v2.yaml')), loadJobSpec(join(dir, 'job.yaml'))]);
    expect(v2).toMatchObject({
      dataset: 'user_engagement',
      version: 2,
      transformPath: join(dir, 'transforms', 'v2.ts'),
      output: { schemaPath: join(dir, 'schemas', 'user_engagement-v2.avsc'), key: 'user_id' },
      promote: 'auto',
    });
    expect(v2.validate.against).toBeNull();
    expect(v2.window).toEqual(v3.window);
    expect(v2.source).toEqual(v3.source);
    expect(v2.upcast).toEqual(v3.upcast);
  });

  it('expected-differences.yaml parses against the job vocabulary', async () => {
    const spec = await loadJobSpec(join(dir, 'job.yaml'));
    const items = parseExpected(readFileSync(join(dir, 'expected-differences.yaml'), 'utf8'), spec.validate, 'expected-differences.yaml');
    expect(items).toHaveLength(1);
    expect(items[0]?.reason).toMatch(/FX/);
  });
});

describe('examples/user_engagement schemas', () => {
  it('are standalone Avro schemas with the documented names', () => {
    for (const [file, name] of [
      ['events-v1.avsc', 'example.events.Event'],
      ['events-v2.avsc', 'example.events.Event'],
      ['user_engagement-v2.avsc', 'example.datasets.UserEngagement'],
      ['user_engagement-v3.avsc', 'example.datasets.UserEngagement'],
    ] as const) {
      expect(schemaType(file).name).toBe(name);
    }
  });

  it('events v1 and v2 differ only in the type of user_id', () => {
    const strip = (s: Record<string, unknown>): unknown =>
      (s.fields as { name: string; type: unknown }[]).map((f) => ({ name: f.name, type: f.type }));
    const [v1, v2] = [strip(readSchema(1)), strip(readSchema(2))] as [{ name: string; type: unknown }[], { name: string; type: unknown }[]];
    expect(v1.map((f) => f.name)).toEqual(v2.map((f) => f.name));
    expect(v1.filter((f, i) => JSON.stringify(f) !== JSON.stringify(v2[i])).map((f) => f.name)).toEqual(['user_id']);
    expect(v1.find((f) => f.name === 'user_id')?.type).toBe('long');
    expect(v2.find((f) => f.name === 'user_id')?.type).toBe('string');
  });

  it('user_engagement v3 keeps every v2 field (revenue_usd the shared measure) and adds fx_rate_date', () => {
    const fields = (file: string): string[] =>
      (JSON.parse(readFileSync(join(dir, 'schemas', file), 'utf8')) as { fields: { name: string }[] }).fields.map((f) => f.name);
    expect(fields('user_engagement-v3.avsc')).toEqual([...fields('user_engagement-v2.avsc'), 'fx_rate_date']);
    expect(fields('user_engagement-v2.avsc')).toContain('revenue_usd');
  });
});

describe('examples/user_engagement upcasters and transforms', () => {
  it('upcasters.ts is a valid upcaster map that runs after the built-in legacy id mapping', async () => {
    const spec = await loadJobSpec(join(dir, 'job.yaml'));
    const mod: unknown = await import(pathToFileURL(spec.upcast.modulePath ?? '').href);
    const map = toUpcasterMap(mod, 'upcast.module');
    expect([...map.keys()]).toEqual([1]);
    const upcast = buildUpcastChain({ legacyIds: spec.upcast.legacyIds, modules: Object.fromEntries(map), versionField: 'schema_version', latestVersion: 2 });
    const { event, version } = upcast({ schema_version: 1, user_id: 1000001, country: ' br' }, 1);
    expect(version).toBe(2);
    expect(event).toEqual({ schema_version: 2, user_id: uuidv5('1000001', DEMO_LEGACY_NAMESPACE), country: 'BR' });
    // A canonical v2 event is left alone.
    expect(upcast({ schema_version: 2, user_id: 'x', country: null }, 2).event).toEqual({ schema_version: 2, user_id: 'x', country: null });
  });

  it('v3 converts with the daily rate of the event day and says which day', () => {
    const out = transformV3(sample(), ctx(1));
    const rate = dailyRate('BRL', Date.UTC(2023, 4, 17));
    expect(out).toEqual({
      user_id: sample().user_id,
      event_id: sample().event_id,
      event_type: 'purchase',
      country: 'BR',
      product_category: 'electronics',
      user_segment: 'vip',
      revenue_usd: Math.round(250 * rate * 100) / 100,
      event_time: sample().event_time,
      source_version: 1,
      fx_rate_date: '2023-05-17',
    });
    expect(schemaType('user_engagement-v3.avsc').isValid(out)).toBe(true);
  });

  it('v2 has the documented bug: BRL at the previous month average rate; other currencies as v3', () => {
    const out = transformV2(sample(), ctx(2));
    expect(out.revenue_usd).toBe(Math.round(250 * monthlyRate('BRL', '2023-04') * 100) / 100);
    expect(out.revenue_usd).not.toBe(transformV3(sample(), ctx(2)).revenue_usd);
    expect(schemaType('user_engagement-v2.avsc').isValid(out)).toBe(true);
    for (const currency of ['USD', 'EUR', 'INR', 'JPY', 'GBP']) {
      const e = sample({ currency, country: 'US' });
      const { fx_rate_date: _day, ...v3 } = transformV3(e, ctx(2));
      expect(transformV2(e, ctx(2))).toEqual(v3);
    }
  });

  it('both keep events without revenue, and throw for a purchase in a currency without rates (→ DLQ)', () => {
    for (const transform of [transformV2, transformV3]) {
      const view = transform(sample({ event_type: 'view', revenue: null, currency: 'XXX' }), ctx(2));
      expect(view.revenue_usd).toBeNull();
      expect(() => transform(sample({ currency: 'XXX' }), ctx(2))).toThrow(new Error('no FX rate for XXX'));
    }
    expect(transformV3(sample({ revenue: null, event_type: 'click' }), ctx(2)).fx_rate_date).toBeNull();
  });

  it('FX: rates are deterministic, the monthly rate averages the daily ones, and BRL falls ~1.3% a month', () => {
    const may = Array.from({ length: 31 }, (_, d) => dailyRate('EUR', Date.UTC(2023, 4, d + 1, 12)));
    expect(monthlyRate('EUR', '2023-05')).toBeCloseTo(may.reduce((s, r) => s + r, 0) / 31, 5);
    expect(dailyRate('USD', Date.UTC(2023, 4, 3))).toBe(1);
    expect(dailyRate('JPY', Date.UTC(2023, 4, 3, 1))).toBe(dailyRate('JPY', Date.UTC(2023, 4, 3, 23)));
    // Rates and day names are kept once made: asked again, the same answers.
    expect(dailyRate('EUR', Date.UTC(2023, 4, 9, 12))).toBe(may[8]);
    for (const t of [Date.UTC(2023, 4, 17, 23, 59, 59, 999), Date.UTC(2023, 4, 17), -1, 0]) {
      expect(utcDay(t)).toBe(new Date(t).toISOString().slice(0, 10));
      expect(utcDay(t)).toBe(new Date(t).toISOString().slice(0, 10));
    }
    expect(monthlyRate('BRL', '2023-05') / monthlyRate('BRL', '2023-06') - 1).toBeCloseTo(0.013, 2);
    expect(previousMonth('2023-01')).toBe('2022-12');
    expect(utcMonth(Date.UTC(2023, 5, 30, 23, 59))).toBe('2023-06');
  });

  it('over generated history, v3 differs from v2 only on Brazil revenue (by ~1.3%), within the documented max', () => {
    const upcast = buildUpcastChain({
      legacyIds: { fields: ['user_id'], upTo: 1, namespace: DEMO_LEGACY_NAMESPACE },
      versionField: 'schema_version',
      latestVersion: 2,
    });
    const types = { 1: avsc.Type.forSchema(readSchema(1) as avsc.Schema), 2: avsc.Type.forSchema(readSchema(2) as avsc.Schema) };
    const sums = { v2: new Map<string, number>(), v3: new Map<string, number>() };
    const add = (m: Map<string, number>, k: string, v: number | null): void => void m.set(k, (m.get(k) ?? 0) + (v ?? 0));
    let failed = 0;
    for (const g of generateEvents({ ...DEMO_HISTORY, perDay: 300, poisonEvery: 997 })) {
      if (g.poison !== undefined && g.poison !== 'bad-fx') continue; // spoiled bytes never reach a transform
      // Through the bytes, as a replay sees it.
      const decoded = types[g.version].fromBuffer(types[g.version].toBuffer(g.event)) as Record<string, unknown>;
      const event = upcast(decoded, g.version).event as unknown as SourceEvent;
      let a: ReturnType<typeof transformV2>;
      let b: ReturnType<typeof transformV3>;
      try {
        a = transformV2(event, ctx(g.version));
        b = transformV3(event, ctx(g.version));
      } catch {
        failed++;
        continue;
      }
      for (const [m, r] of [[sums.v2, a], [sums.v3, b]] as const) {
        add(m, `country=${String(r.country)}`, r.revenue_usd);
        add(m, `category=${r.product_category}`, r.revenue_usd);
        add(m, `segment=${r.user_segment}`, r.revenue_usd);
        add(m, 'total', r.revenue_usd);
      }
    }
    expect(failed).toBeGreaterThan(0); // the bad-fx poison
    const diff = (k: string): number => ((sums.v3.get(k) ?? 0) - (sums.v2.get(k) ?? 0)) / (sums.v2.get(k) ?? 1);
    expect(diff('country=BR')).toBeLessThan(-0.008);
    expect(diff('country=BR')).toBeGreaterThan(-0.03);
    for (const k of sums.v2.keys()) {
      if (k === 'country=BR') continue;
      if (k.startsWith('country=')) expect(diff(k)).toBe(0);
      else expect(Math.abs(diff(k))).toBeLessThan(0.005); // within the gate's tolerance
    }
  });
});

describe('examples/user_engagement under plain Node', () => {
  it('Node loads the transforms and upcasters directly by type stripping', async () => {
    const script = `
      const dir = ${JSON.stringify(pathToFileURL(dir).href)};
      const v2 = await import(dir + '/transforms/v2.ts');
      const v3 = await import(dir + '/transforms/v3.ts');
      const up = await import(dir + '/upcasters.ts');
      const event = ${JSON.stringify(sample())};
      const ctx = { topic: 'events', partition: 0, offset: '0', timestamp: '0', key: null, version: 2 };
      console.log(JSON.stringify({ v2: v2.default(event, ctx), v3: v3.default(event, ctx), up: Object.keys(up.default) }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], { timeout: 30_000 });
    const out = JSON.parse(stdout) as { v2: unknown; v3: unknown; up: string[] };
    expect(out.v2).toEqual(transformV2(sample(), ctx(2)));
    expect(out.v3).toEqual(transformV3(sample(), ctx(2)));
    expect(out.up).toEqual(['1']);
  });
});
