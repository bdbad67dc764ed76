import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CompareMetrics } from '../../src/metrics/compare.js';
import { ReplayMetrics, newTally, tallyDecodeError, versionLabel } from '../../src/metrics/replay.js';
import { createMetricsRegistry, startMetricsServer } from '../../src/metrics/server.js';
import type { GateReport } from '../../src/compare/core/index.js';

const labels = { runId: 'r1', dataset: 'ue', version: 3, workerId: 'w1', sourceTopic: 'events', sinkTopic: 'ue_v3' };

async function value(registry: Registry, name: string, match: Record<string, string> = {}): Promise<number[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => Object.entries(match).every(([k, x]) => String(v.labels[k]) === x)).map((v) => v.value);
}

describe('replay metrics', () => {
  it('counts committed chunks per partition, with every series present from the start', async () => {
    const registry = new Registry();
    const m = new ReplayMetrics(registry, labels);
    m.partitions([0, 1]);
    expect(await value(registry, 'reprocess_records_written_total')).toEqual([0, 0]);
    expect(await value(registry, 'reprocess_records_dlq_total', { partition: '1' })).toEqual([0, 0, 0, 0]);
    const t = newTally();
    Object.assign(t, { read: 10, readBytes: 2000, written: 8, writtenBytes: 1500, filtered: 1 });
    t.dlq.transform = 1;
    tallyDecodeError(t, 1, 'bad-legacy-id');
    m.committed(1, t);
    m.committed(1, t);
    expect(await value(registry, 'reprocess_records_written_total', { partition: '1' })).toEqual([16]);
    expect(await value(registry, 'reprocess_bytes_read_total', { partition: '1' })).toEqual([4000]);
    expect(await value(registry, 'reprocess_records_dlq_total', { partition: '1', stage: 'transform' })).toEqual([2]);
    expect(await value(registry, 'reprocess_decode_errors_total', { schema_version: '1', reason: 'bad-legacy-id' })).toEqual([2]);
    expect(await value(registry, 'reprocess_decode_errors_total', { schema_version: 'unknown', reason: 'bad-magic' })).toEqual([0]);
  });

  it('bounds schema version labels', () => {
    expect(versionLabel(2)).toBe('2');
    expect(versionLabel('7')).toBe('7');
    expect(versionLabel(0)).toBe('unknown');
    expect(versionLabel(123456)).toBe('unknown');
    expect(versionLabel('x')).toBe('unknown');
    expect(versionLabel(undefined)).toBe('unknown');
  });

  it('derives progress, remaining and the ETA from the whole run\'s committed records', async () => {
    const registry = new Registry();
    const m = new ReplayMetrics(registry, labels);
    expect(await value(registry, 'reprocess_run_eta_seconds')).toEqual([-1]);
    m.progress([{ partition: 0, records: 1000, done: 0 }, { partition: 1, records: 1000, done: 0 }], 500, 0);
    m.progress([{ partition: 0, records: 1000, done: 300 }, { partition: 1, records: 1000, done: 200 }], 500, 10_000);
    expect(await value(registry, 'reprocess_run_progress_ratio')).toEqual([0.25]);
    expect(await value(registry, 'reprocess_partition_remaining_records', { partition: '0' })).toEqual([700]);
    expect(await value(registry, 'reprocess_run_progress_records_per_second')).toEqual([50]);
    expect(await value(registry, 'reprocess_run_eta_seconds')).toEqual([30]);
    expect(await value(registry, 'reprocess_rate_limit_records_per_second')).toEqual([500]);
    m.progress([{ partition: 0, records: 1000, done: 1000 }, { partition: 1, records: 1000, done: 1000 }], null, 20_000);
    expect(await value(registry, 'reprocess_run_eta_seconds')).toEqual([0]);
    expect(await value(registry, 'reprocess_run_completed')).toEqual([1]);
    expect(await value(registry, 'reprocess_rate_limit_records_per_second')).toEqual([-1]);
  });

  it('shares one set of instruments between runs in one process', async () => {
    const registry = new Registry();
    new ReplayMetrics(registry, labels).partitions([0]);
    new ReplayMetrics(registry, { ...labels, runId: 'r2' }).partitions([0]);
    expect(await value(registry, 'reprocess_run_info')).toEqual([1, 1]);
  });
});

describe('compare metrics', () => {
  const report = (values: string[], passed: boolean): GateReport => ({
    passed, failures: passed ? [] : ['x'], totals: [{ metric: 'count', old: 10, new: 11, relDiff: 0.1, passed: true }],
    dimensions: [{ dimension: 'country', values: values.length, passingValues: values.length, passingShare: 1, passed: true, failing: [],
      worst: values.map((v, i) => ({ value: v, metric: 'count', old: 10, new: 10 + i, relDiff: i === 0 ? null : i / 10, onlyIn: null, passed: true, expected: null })) }],
  } as unknown as GateReport);

  it('keeps only the current worst values, pending until the final verdict', async () => {
    const registry = new Registry();
    const m = new CompareMetrics(registry, { compareId: 'c', dataset: 'ue', version: 3, baseline: 2 });
    expect(await value(registry, 'reprocess_gate_status')).toEqual([-1]);
    m.report(report(['BR', 'US', 'DE'], false), false);
    expect(await value(registry, 'reprocess_gate_status')).toEqual([-1]);
    expect(await value(registry, 'reprocess_gate_failures')).toEqual([1]);
    expect(await value(registry, 'reprocess_compare_difference_ratio', { value: 'BR' })).toEqual([Infinity]);
    m.report(report(['FR', 'US'], true), true);
    expect(await value(registry, 'reprocess_gate_status')).toEqual([1]);
    expect((await value(registry, 'reprocess_compare_difference_ratio')).length).toBe(2);
    expect(await value(registry, 'reprocess_compare_difference_ratio', { value: 'BR' })).toEqual([]);
  });
});

describe('metrics server', () => {
  it('serves /metrics, 404 elsewhere, and falls back to the next port only for a default port', async () => {
    const registry = createMetricsRegistry();
    const held = createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', () => r()));
    const port = (held.address() as { port: number }).port;
    try {
      await expect(startMetricsServer({ registry, port, host: '127.0.0.1' })).rejects.toMatchObject({ message: expect.stringContaining('in use') as unknown, hint: expect.stringContaining('--metrics-port') as unknown });
      const server = await startMetricsServer({ registry, port, host: '127.0.0.1', fallback: true });
      expect(server.port).toBeGreaterThan(port);
      const body = await (await fetch(server.url)).text();
      expect(body).toContain('process_cpu_seconds_total');
      expect((await fetch(server.url.replace('/metrics', '/nope'))).status).toBe(404);
      expect(server.scrapes()).toBe(1);
      const linger = server.lingerForScrape(5_000);
      await fetch(server.url);
      expect(await linger).toBe(true);
      await server.close();
    } finally {
      held.close();
    }
  });

  it('does not linger when nothing ever scraped it', async () => {
    const server = await startMetricsServer({ registry: new Registry(), port: 0, host: '127.0.0.1' });
    expect(await server.lingerForScrape(10_000)).toBe(false);
    await server.close();
  });
});
