import { describe, expect, it } from 'vitest';
import {
  evaluateGate,
  renderHtml,
  renderTable,
  type GateConfig,
  type GateReport,
  type KeyStats,
  type SideAggregate,
} from '../../src/compare/core/index.js';
import type { ExpectedDifference } from './helpers.js';

const DAY = 86_400_000;
const JAN1 = Date.UTC(2026, 0, 1);

type Values = Record<string, [count: number, revenue: number]>;

function side(values: Values, buckets: number[], nulls = 0): SideAggregate {
  const dims: SideAggregate['dimensions'][string] = {};
  let count = 0;
  let revenue = 0;
  for (const [v, [c, r]] of Object.entries(values)) {
    dims[v] = { count: c, sums: { revenue: r } };
    count += c;
    revenue += r;
  }
  return {
    count,
    buckets: Object.fromEntries(buckets.map((n, i) => [String(JAN1 + i * DAY), n])),
    nulls: { coupon: nulls },
    dimensions: { country: dims },
    sums: { revenue },
  };
}

const LIVE: Values = { BR: [1000, 4_520_000], DE: [2000, 9_000_000], FR: [1500, 6_000_000], US: [5500, 25_680_000] };
const LIVE_BUCKETS = [2500, 2500, 2500, 2500];

function config(expected: ExpectedDifference[] = []): GateConfig {
  return { tolerance: 0.005, quorum: 0.95, dimensions: ['country'], measures: ['revenue'], nulls: ['coupon'], expected, bucketMs: DAY, abortFactor: 10 };
}

const META = {
  dataset: 'user_engagement',
  liveVersion: 2,
  candidateVersion: 3,
  window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-05T00:00:00.000Z' },
  generatedAt: '2026-02-01T12:00:00.000Z',
};

const KEYS: KeyStats = {
  distinctLive: 9000,
  distinctCandidate: 9001,
  onlyInLive: 0,
  onlyInCandidate: 1,
  inBoth: 9000,
  countMismatch: 2,
  deltaHistogram: { '>=6': 1, '0': 8998, '<=-6': 0, '-1': 1, '1': 2 },
  examples: { onlyInLive: [], onlyInCandidate: ['user-9001'], countMismatch: ['user-17', 'user-42'] },
};

function identical(): GateReport {
  return evaluateGate(side(LIVE, LIVE_BUCKETS, 100), side(LIVE, LIVE_BUCKETS, 100), KEYS, config(), META);
}

/** BR revenue +1.3%; optionally explained. */
function brRevenue(expected: ExpectedDifference[] = []): GateReport {
  const candidate = { ...LIVE, BR: [1000, 4_578_760] as [number, number] };
  return evaluateGate(side(LIVE, LIVE_BUCKETS, 100), side(candidate, LIVE_BUCKETS, 100), KEYS, config(expected), META);
}

const BR_EXPECTED: ExpectedDifference = { dimension: 'country', value: 'BR', metric: 'revenue', max: 0.02, reason: 'BRL at the daily rate', line: 1 };
const UNUSED: ExpectedDifference = { dimension: 'total', value: null, metric: 'count', max: null, reason: 'bot filter', line: 6 };

describe('renderTable', () => {
  it('opens with PASSED for identical versions and shows totals with no differences', () => {
    const text = renderTable(identical());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^PASSED: user_engagement v3 \(candidate\) vs v2 \(live\)/);
    expect(text).toContain('No difference beyond tolerance.');
    expect(text).toMatch(/count\s+10,000\s+10,000\s+0%\s+ok/);
    expect(text).toMatch(/revenue\s+45,200,000\s+45,200,000\s+0%\s+ok/);
    expect(text).toMatch(/nulls\.coupon\s+1\.00%\s+1\.00%\s+0%\s+ok/);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('opens with FAILED and the failure count, then lists the failing value before the totals', () => {
    const text = renderTable(brRevenue());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^FAILED \(1 failure\): /);
    const failing = lines.findIndex((l) => /FAIL\s+country\s+BR\s+revenue\s+4,520,000\s+4,578,760\s+\+1\.30%\s+no$/.test(l));
    const totals = lines.indexOf('Totals');
    expect(failing).toBeGreaterThan(0);
    expect(totals).toBeGreaterThan(failing);
    expect(text).toMatch(/country\s+4\s+3\s+75\.00%\s+FAIL/);
  });

  it('shows an explained difference with its reason, and the expectations used and unused', () => {
    const text = renderTable(brRevenue([BR_EXPECTED, UNUSED]));
    expect(text.split('\n')[0]).toMatch(/^PASSED: /);
    expect(text).toMatch(/ok\s+country\s+BR\s+revenue\s+4,520,000\s+4,578,760\s+\+1\.30%\s+yes up to 2\.00%: BRL at the daily rate/);
    expect(text).toContain('used    line 1: country=BR revenue up to 2.00%: explained 1 (BR) — BRL at the daily rate');
    expect(text).toContain('unused  line 6: total count — bot filter (never needed)');
  });

  it('says when an expectation max was exceeded', () => {
    const text = renderTable(brRevenue([{ ...BR_EXPECTED, max: 0.01 }]));
    expect(text).toMatch(/FAIL\s+country\s+BR\s+revenue.*max exceeded \(expected up to 1\.00%: BRL at the daily rate\)/);
  });

  it('shows key statistics with the histogram in order', () => {
    const text = renderTable(identical());
    expect(text).toContain('distinct: live 9,000, candidate 9,001, in both 9,000');
    expect(text).toContain('only in candidate 1 (e.g. user-9001)');
    expect(text).toContain('records per key, candidate - live: <=-6: 0, -1: 1, 0: 8,998, 1: 2, >=6: 1');
  });

  it('escapes control characters in data values', () => {
    const values: Values = { ...LIVE, 'evil\u001b[31m\nX': [10, 10] };
    const report = evaluateGate(side(LIVE, LIVE_BUCKETS), side(values, LIVE_BUCKETS), null, config(), META);
    const text = renderTable(report);
    expect(text).not.toContain('\u001b');
    expect(text).toContain('evil\\u001b[31m\\u000aX');
  });
});

describe('renderHtml', () => {
  it('is one self-contained document with the verdict, a chart and the failing value', () => {
    const html = renderHtml(brRevenue());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<h1>FAILED (1 failure)</h1>');
    expect(html).toContain('class="verdict fail"');
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline');
    expect(html).toMatch(/<td>BR<\/td><td>revenue<\/td><td class="num">4,520,000<\/td><td class="num">4,578,760<\/td><td class="num">\+1\.30%<\/td>/);
    // Nothing to fetch and nothing to run.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|@import|url\(/i);
    for (const tag of ['html', 'head', 'body', 'main', 'table', 'svg', 'style', 'thead', 'tbody']) {
      expect(count(html, `<${tag}[ >]`), tag).toBe(count(html, `</${tag}>`));
    }
  });

  it('shows PASSED for identical versions', () => {
    const html = renderHtml(identical());
    expect(html).toContain('<h1>PASSED</h1>');
    expect(html).toContain('class="verdict pass"');
    expect(html).toContain('No differences at all.');
  });

  it('escapes data values everywhere, including in SVG labels', () => {
    const evil = '<script>alert("x")</script>';
    const values: Values = { ...LIVE, [evil]: [10, 10] };
    const report = evaluateGate(side(LIVE, LIVE_BUCKETS), side(values, LIVE_BUCKETS), null, config(), { ...META, dataset: `ds'"&<b>` });
    const html = renderHtml(report);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(html).toContain('ds&#39;&#34;&#38;&#60;b&#62;');
  });

  it('lists expectations used and unused', () => {
    const html = renderHtml(brRevenue([BR_EXPECTED, UNUSED]));
    expect(html).toContain('<h1>PASSED</h1>');
    expect(html).toMatch(/used<\/span><\/td><td class="num">1<\/td><td>country=BR revenue up to 2\.00%<\/td><td>1: BR<\/td>/);
    expect(html).toMatch(/unused<\/span><\/td><td class="num">6<\/td><td>total count<\/td>/);
  });
});

function count(text: string, pattern: string): number {
  return (text.match(new RegExp(pattern, 'g')) ?? []).length;
}
