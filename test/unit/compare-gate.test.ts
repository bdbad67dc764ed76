import { describe, expect, it } from 'vitest';
import {
  bucketOf,
  evaluateGate,
  judgeBucket,
  relativeDifference,
  type GateConfig,
  type GateReport,
  type KeyStats,
  type SideAggregate,
} from '../../src/compare/core/index.js';
import { catchError, type ExpectedDifference } from './helpers.js';

// ───────────── a tiny in-memory aggregator, so the tests start from records ─────────────

interface Rec {
  ts: number;
  country: string | null;
  category: string;
  revenue: number;
  coupon: string | null;
}

const DAY = 86_400_000;
const JAN1 = Date.UTC(2026, 0, 1);
const MEASURES = ['revenue'];
const DIMENSIONS = ['country', 'category'];
const NULLS = ['coupon'];

function aggregate(records: readonly Rec[], bucketMs = DAY): SideAggregate {
  const agg: SideAggregate = { count: 0, buckets: {}, nulls: {}, dimensions: {}, sums: {} };
  for (const r of records) {
    agg.count += 1;
    const b = String(bucketOf(r.ts, bucketMs));
    agg.buckets[b] = (agg.buckets[b] ?? 0) + 1;
    if (r.coupon === null) agg.nulls.coupon = (agg.nulls.coupon ?? 0) + 1;
    agg.sums.revenue = (agg.sums.revenue ?? 0) + r.revenue;
    for (const d of DIMENSIONS) {
      const raw = d === 'country' ? r.country : r.category;
      const value = raw ?? '(null)';
      const values = (agg.dimensions[d] ??= {});
      const slot = (values[value] ??= { count: 0, sums: {} });
      slot.count += 1;
      slot.sums.revenue = (slot.sums.revenue ?? 0) + r.revenue;
    }
  }
  return agg;
}

/** n records per country, spread over 10 days, integer revenue (cents) so sums are exact. */
function dataset(countries: readonly string[], perCountry = 100): Rec[] {
  const out: Rec[] = [];
  for (const [ci, country] of countries.entries()) {
    for (let i = 0; i < perCountry; i++) {
      out.push({
        ts: JAN1 + ((i * 7 + ci) % 10) * DAY + i * 1000,
        country,
        category: ['books', 'games', 'music'][i % 3] ?? 'books',
        revenue: 1000 + ((i * 37 + ci * 11) % 500),
        coupon: i % 5 === 0 ? null : `C${String(i)}`,
      });
    }
  }
  return out;
}

const FIVE = ['BR', 'DE', 'FR', 'JP', 'US'];
const TWENTY = Array.from({ length: 20 }, (_, i) => `C${String(i).padStart(2, '0')}`);

function config(over: Partial<GateConfig> = {}): GateConfig {
  return {
    tolerance: 0.005,
    quorum: 0.95,
    dimensions: DIMENSIONS,
    measures: MEASURES,
    nulls: NULLS,
    expected: [],
    bucketMs: DAY,
    abortFactor: 10,
    ...over,
  };
}

const META = {
  dataset: 'user_engagement',
  liveVersion: 2,
  candidateVersion: 3,
  window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-11T00:00:00.000Z' },
  generatedAt: '2026-02-01T12:00:00.000Z',
};

function gate(live: readonly Rec[], candidate: readonly Rec[], over: Partial<GateConfig> = {}, keys: KeyStats | null = null): GateReport {
  return evaluateGate(aggregate(live), aggregate(candidate), keys, config(over), META);
}

let line = 1;
function expectation(e: Partial<ExpectedDifference> & { dimension: string; metric: string }): ExpectedDifference {
  return { value: null, max: null, reason: 'a documented fix', line: line++, ...e };
}

/** BR revenue scaled by the factor; everything else unchanged. */
function scaleRevenue(records: readonly Rec[], country: string, factor: number): Rec[] {
  return records.map((r) => (r.country === country ? { ...r, revenue: r.revenue * factor } : r));
}

const sumRevenue = (records: readonly Rec[], country: string): number =>
  records.filter((r) => r.country === country).reduce((s, r) => s + r.revenue, 0);

// ───────────────────────── tests ─────────────────────────

describe('relativeDifference', () => {
  it('is |new - old| / |old| with the zero cases defined', () => {
    expect(relativeDifference(0, 0)).toBe(0);
    expect(relativeDifference(0, 5)).toBe(Infinity);
    expect(relativeDifference(5, 0)).toBe(1);
    expect(relativeDifference(200, 200)).toBe(0);
    expect(relativeDifference(1000, 1013)).toBeCloseTo(0.013, 12);
    expect(relativeDifference(1000, 987)).toBeCloseTo(0.013, 12);
    expect(relativeDifference(-100, -90)).toBeCloseTo(0.1, 12);
  });
});

describe('evaluateGate', () => {
  it('passes identical versions with every difference zero', () => {
    const records = dataset(FIVE);
    const unneeded = expectation({ dimension: 'country', value: 'DE', metric: 'count' });
    const report = gate(records, records, { expected: [unneeded] });
    expect(report.passed).toBe(true);
    expect(report.failures).toEqual([]);
    expect(report.totals.map((t) => t.metric)).toEqual(['count', 'revenue', 'nulls.coupon']);
    for (const t of report.totals) {
      expect(t.relDiff).toBe(0);
      expect(t.passed).toBe(true);
    }
    for (const d of report.dimensions) {
      expect(d.failing).toEqual([]);
      expect(d.worst).toEqual([]);
      expect(d.passingValues).toBe(d.values);
      expect(d.passingShare).toBe(1);
    }
    expect(report.dimensions.map((d) => [d.dimension, d.values])).toEqual([['country', 5], ['category', 3]]);
    expect(report.buckets).toHaveLength(10);
    expect(report.buckets.every((b) => b.relDiff === 0 && b.judgement === 'pass')).toBe(true);
    expect(report.buckets[0]?.start).toBe('2026-01-01T00:00:00.000Z');
    expect(report.expectations.used).toEqual([]);
    expect(report.expectations.unused).toHaveLength(1);
  });

  it('passes identical versions even at tolerance 0', () => {
    const records = dataset(FIVE);
    expect(gate(records, records, { tolerance: 0 }).passed).toBe(true);
  });

  it('fails when revenue differs by 1.3% in one country, naming the country, both sums and the difference', () => {
    const live = dataset(FIVE);
    const candidate = scaleRevenue(live, 'BR', 1.013);
    const report = gate(live, candidate);
    expect(report.passed).toBe(false);

    // The total moves by only ~0.26% (BR is a fifth of the revenue): the dimension is what fails.
    const totalRevenue = report.totals.find((t) => t.metric === 'revenue');
    expect(totalRevenue?.passed).toBe(true);
    const country = report.dimensions.find((d) => d.dimension === 'country');
    expect(country).toMatchObject({ values: 5, passingValues: 4, passingShare: 0.8, passed: false });
    const oldSum = sumRevenue(live, 'BR');
    const newSum = sumRevenue(candidate, 'BR');
    expect(country?.failing).toEqual([
      { value: 'BR', metric: 'revenue', old: oldSum, new: newSum, relDiff: expect.closeTo(0.013, 9) as number, onlyIn: null, passed: false, expected: null },
    ]);
    expect(report.dimensions.find((d) => d.dimension === 'category')?.passed).toBe(true);

    expect(report.failures).toHaveLength(1);
    const failure = report.failures[0] ?? '';
    expect(failure).toContain('country');
    expect(failure).toContain('BR revenue');
    expect(failure).toContain(new Intl.NumberFormat('en-US').format(oldSum));
    expect(failure).toContain(new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 }).format(newSum));
    expect(failure).toContain('+1.30%');
    expect(failure).toContain('4 of 5 values');
  });

  it('passes the same 1.3% difference when it is expected, and lists the expectation as used', () => {
    const live = dataset(FIVE);
    const candidate = scaleRevenue(live, 'BR', 1.013);
    const br = expectation({ dimension: 'country', value: 'BR', metric: 'revenue', max: 0.02, reason: 'v3 converts BRL at the daily rate' });
    const never = expectation({ dimension: 'total', metric: 'count', reason: 'bots filtered' });
    const report = gate(live, candidate, { expected: [br, never] });
    expect(report.passed).toBe(true);
    expect(report.failures).toEqual([]);
    const country = report.dimensions.find((d) => d.dimension === 'country');
    expect(country).toMatchObject({ passingValues: 5, passed: true });
    expect(country?.failing).toHaveLength(1);
    expect(country?.failing[0]).toMatchObject({
      value: 'BR',
      passed: true,
      expected: { reason: 'v3 converts BRL at the daily rate', max: 0.02, line: br.line, exceeded: false },
    });
    expect(report.expectations.used).toEqual([
      { dimension: 'country', value: 'BR', metric: 'revenue', reason: br.reason, max: 0.02, line: br.line, covered: 1, values: ['BR'], exceeded: [] },
    ]);
    expect(report.expectations.unused).toEqual([
      { dimension: 'total', value: null, metric: 'count', reason: 'bots filtered', max: null, line: never.line },
    ]);
  });

  it('fails when the difference exceeds the expectation max, and says so', () => {
    const live = dataset(FIVE);
    const candidate = scaleRevenue(live, 'BR', 1.013);
    const br = expectation({ dimension: 'country', value: 'BR', metric: 'revenue', max: 0.01, reason: 'rounding fix' });
    const report = gate(live, candidate, { expected: [br] });
    expect(report.passed).toBe(false);
    const row = report.dimensions.find((d) => d.dimension === 'country')?.failing[0];
    expect(row).toMatchObject({ value: 'BR', passed: false, expected: { max: 0.01, exceeded: true, reason: 'rounding fix' } });
    expect(report.failures[0]).toContain("expectation's max was exceeded");
    expect(report.failures[0]).toContain('rounding fix');
    expect(report.expectations.used).toHaveLength(1);
    expect(report.expectations.used[0]).toMatchObject({ covered: 0, values: [], exceeded: [{ value: 'BR', relDiff: expect.closeTo(0.013, 9) as number }] });
    expect(report.expectations.unused).toEqual([]);
  });

  it('lets a specific expectation win over a dimension-wide one, and a wildcard cover any value', () => {
    const live = dataset(FIVE);
    const candidate = scaleRevenue(scaleRevenue(live, 'BR', 1.013), 'DE', 0.97);
    const anyCountry = expectation({ dimension: 'country', metric: 'revenue', max: 0.05, reason: 'currency tables refreshed' });
    const br = expectation({ dimension: 'country', value: 'BR', metric: 'revenue', reason: 'BRL daily rate' });
    const report = gate(live, candidate, { expected: [anyCountry, br] });
    expect(report.passed).toBe(true);
    const used = new Map(report.expectations.used.map((u) => [u.line, u]));
    expect(used.get(br.line)?.values).toEqual(['BR']);
    expect(used.get(anyCountry.line)?.values).toEqual(['DE']);
  });

  it('fails a difference of exactly the tolerance ("less than", not "at most")', () => {
    const live = { ...aggregate(dataset(FIVE)), count: 1000 };
    const withCount = (count: number): GateReport => evaluateGate(live, { ...live, count }, null, config(), META);
    expect(withCount(1004).totals[0]).toMatchObject({ metric: 'count', relDiff: 0.004, passed: true });
    expect(withCount(1005).totals[0]).toMatchObject({ metric: 'count', relDiff: 0.005, passed: false });
    expect(withCount(995).totals[0]).toMatchObject({ metric: 'count', relDiff: 0.005, passed: false });
  });

  it('fails on the total count when the candidate misses 1% of the records', () => {
    const live = dataset(FIVE);
    const candidate = live.filter((_, i) => i % 100 !== 0);
    expect(live.length - candidate.length).toBe(live.length / 100);
    const report = gate(live, candidate);
    expect(report.passed).toBe(false);
    const count = report.totals.find((t) => t.metric === 'count');
    expect(count).toMatchObject({ old: 500, new: 495, relDiff: 0.01, passed: false, expected: null });
    expect(report.failures.some((f) => f.startsWith('total count: live 500, candidate 495') && f.includes('-1.00%'))).toBe(true);

    // Explained as a whole, the total passes (the dimensions still judge their own values).
    const explained = gate(live, candidate, { expected: [expectation({ dimension: 'total', metric: 'count', reason: 'dedup' })] });
    expect(explained.totals.find((t) => t.metric === 'count')).toMatchObject({ passed: true, expected: { reason: 'dedup', exceeded: false } });
    expect(explained.expectations.used[0]).toMatchObject({ covered: 1, values: ['total'] });
  });

  it('fails on the null rate of a field nulled in 10% of the records', () => {
    const live = dataset(FIVE);
    const candidate = live.map((r, i) => (i % 10 === 3 ? { ...r, coupon: null } : r));
    const report = gate(live, candidate);
    expect(report.passed).toBe(false);
    const nulls = report.totals.find((t) => t.metric === 'nulls.coupon');
    expect(nulls).toMatchObject({ old: 0.2, new: 0.3, passed: false, nulls: { old: 100, new: 150 } });
    expect(nulls?.relDiff).toBeCloseTo(0.5, 12);
    expect(report.totals.find((t) => t.metric === 'count')?.passed).toBe(true);
    expect(report.failures).toEqual([expect.stringContaining('total null rate of coupon: live 20.00%, candidate 30.00%')]);
  });

  it('reports a null rate rising from zero as an infinite difference (null in JSON)', () => {
    const live = dataset(FIVE).map((r) => ({ ...r, coupon: 'X' }));
    const candidate = live.map((r, i) => (i % 10 === 0 ? { ...r, coupon: null } : r));
    const report = gate(live, candidate);
    expect(report.totals.find((t) => t.metric === 'nulls.coupon')).toMatchObject({ old: 0, new: 0.1, relDiff: null, passed: false });
  });

  it('meets the quorum at 19 of 20 values passing and misses it at 18 of 20', () => {
    const live = dataset(TWENTY, 20);
    const one = gate(live, scaleRevenue(live, 'C00', 1.05));
    const country1 = one.dimensions.find((d) => d.dimension === 'country');
    expect(country1).toMatchObject({ values: 20, passingValues: 19, passed: true });
    expect(country1?.passingShare).toBeCloseTo(0.95, 12);
    expect(country1?.failing.map((f) => f.value)).toEqual(['C00']);

    const two = gate(live, scaleRevenue(scaleRevenue(live, 'C00', 1.05), 'C01', 0.9));
    const country2 = two.dimensions.find((d) => d.dimension === 'country');
    expect(country2).toMatchObject({ values: 20, passingValues: 18, passed: false });
    expect(two.failures.find((f) => f.startsWith('country:'))).toMatch(/18 of 20 values.*C01 revenue.*C00 revenue/);

    // The same arithmetic at other quorums.
    expect(gate(live, scaleRevenue(scaleRevenue(live, 'C00', 1.05), 'C01', 0.9), { quorum: 0.9 }).dimensions[0]?.passed).toBe(true);
    expect(gate(live, scaleRevenue(live, 'C00', 1.05), { quorum: 1 }).dimensions[0]?.passed).toBe(false);
  });

  it('treats a value present in one version only as an infinite difference on every metric', () => {
    const live = dataset(FIVE);
    const candidate = [...live, ...dataset(['XX'], 1)];
    const report = gate(live, candidate);
    const country = report.dimensions.find((d) => d.dimension === 'country');
    expect(country).toMatchObject({ values: 6, passingValues: 5, passed: false });
    expect(country?.failing.map((f) => [f.value, f.metric, f.relDiff, f.onlyIn, f.old])).toEqual([
      ['XX', 'count', null, 'candidate', 0],
      ['XX', 'revenue', null, 'candidate', 0],
    ]);
    expect(report.failures.find((f) => f.startsWith('country:'))).toContain('only in the candidate');

    // Gone from the candidate: the same the other way round, though new/old would be a finite 100%.
    const gone = gate(live, live.filter((r) => r.country !== 'JP'));
    expect(gone.dimensions[0]?.failing[0]).toMatchObject({ value: 'JP', onlyIn: 'live', relDiff: null, new: 0 });

    // Only an expectation without max explains an infinite difference.
    const bounded = [
      expectation({ dimension: 'country', value: 'XX', metric: 'count', max: 1, reason: 'new market' }),
      expectation({ dimension: 'country', value: 'XX', metric: 'revenue', max: 1, reason: 'new market' }),
    ];
    expect(gate(live, candidate, { expected: bounded }).dimensions[0]?.passed).toBe(false);
    const unbounded = [
      expectation({ dimension: 'country', value: 'XX', metric: 'count', reason: 'new market' }),
      expectation({ dimension: 'country', value: 'XX', metric: 'revenue', reason: 'new market' }),
    ];
    const explained = gate(live, candidate, { expected: unbounded, quorum: 1 });
    expect(explained.dimensions[0]).toMatchObject({ passingValues: 6, passed: true });
  });

  it('counts null dimension values as the value "(null)"', () => {
    const live = dataset(FIVE);
    const candidate = live.map((r, i) => (i < 3 ? { ...r, country: null } : r));
    const report = gate(live, candidate);
    const failing = report.dimensions[0]?.failing ?? [];
    expect(failing.some((f) => f.value === '(null)' && f.onlyIn === 'candidate')).toBe(true);
  });

  it('sorts failing values by relative difference, largest first', () => {
    const live = dataset(FIVE);
    const candidate = scaleRevenue(scaleRevenue(scaleRevenue(live, 'DE', 1.01), 'FR', 1.2), 'US', 0.95);
    const failing = gate(live, candidate).dimensions[0]?.failing ?? [];
    expect(failing.map((f) => f.value)).toEqual(['FR', 'US', 'DE']);
  });

  it('survives a JSON round trip unchanged (no Infinity, no undefined)', () => {
    const live = dataset(FIVE);
    const candidate = [...scaleRevenue(live, 'BR', 1.013), ...dataset(['XX'], 2)];
    const keys: KeyStats = {
      distinctLive: 10,
      distinctCandidate: 11,
      onlyInLive: 0,
      onlyInCandidate: 1,
      inBoth: 10,
      countMismatch: 0,
      deltaHistogram: { '0': 10, '1': 1 },
      examples: { onlyInLive: [], onlyInCandidate: ['k11'], countMismatch: [] },
    };
    const report = gate(live, candidate, {}, keys);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report.keys).toEqual(keys);
    expect(report.schema).toBe(1);
  });

  it('judges each bucket and orders them by time', () => {
    const live = dataset(FIVE);
    const day3 = JAN1 + 3 * DAY;
    // Drop 30% of one day's records: 0.3 > 0.005 × 10, so that bucket is an abort.
    let dropped = 0;
    const candidate = live.filter((r) => !(bucketOf(r.ts, DAY) === day3 && dropped++ % 10 < 3));
    const report = gate(live, candidate);
    expect(report.buckets.map((b) => b.startMs)).toEqual(Array.from({ length: 10 }, (_, i) => JAN1 + i * DAY));
    expect(report.buckets.filter((b) => b.judgement !== 'pass').map((b) => [b.start, b.judgement])).toEqual([['2026-01-04T00:00:00.000Z', 'abort']]);
  });
});

describe('judgeBucket', () => {
  it('passes within tolerance, fails beyond, aborts beyond tolerance × factor', () => {
    expect(judgeBucket(1000, 1000, 0.005, 10)).toBe('pass');
    expect(judgeBucket(1000, 1004, 0.005, 10)).toBe('pass');
    expect(judgeBucket(1000, 1005, 0.005, 10)).toBe('fail');
    expect(judgeBucket(1000, 1050, 0.005, 10)).toBe('fail');
    expect(judgeBucket(1000, 1051, 0.005, 10)).toBe('abort');
    expect(judgeBucket(1000, 0, 0.005, 10)).toBe('abort');
    expect(judgeBucket(0, 0, 0.005, 10)).toBe('pass');
    expect(judgeBucket(0, 1, 0.005, 10)).toBe('abort');
  });
});

describe('bucketOf', () => {
  it('aligns buckets to UTC', () => {
    expect(bucketOf(Date.UTC(2026, 0, 1, 13, 45), DAY)).toBe(Date.UTC(2026, 0, 1));
    expect(bucketOf(Date.UTC(2026, 0, 1), DAY)).toBe(Date.UTC(2026, 0, 1));
    expect(bucketOf(Date.UTC(2026, 0, 1) - 1, DAY)).toBe(Date.UTC(2025, 11, 31));
    expect(bucketOf(Date.UTC(2026, 0, 1, 13, 45), 3_600_000)).toBe(Date.UTC(2026, 0, 1, 13));
    expect(bucketOf(-1, DAY)).toBe(-DAY);
  });

  it('refuses a bucket size that is not a positive whole number of ms', () => {
    catchError(() => bucketOf(0, 0), 'INTERNAL');
    catchError(() => bucketOf(0, 1.5), 'INTERNAL');
    catchError(() => bucketOf(Number.NaN, DAY), 'INTERNAL');
  });
});
