import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregate } from '../../src/compare/aggregator.js';
import type { GateReport } from '../../src/compare/core/index.js';
import { loadJobSpec } from '../../src/core/index.js';
import { createLogger } from '../../src/log.js';
import { RegistryClient } from '../../src/registry/index.js';
import { connectRedisChecked } from '../../src/redis/index.js';
import { keys } from '../../src/redis/keys.js';
import { BIN, cli } from '../support/cli.js';
import { startWorker } from '../support/workers.js';
import { testEndpoints, testKafka, unique, waitFor, cleanupDatasets } from '../support/env.js';
import { createSource, makeEvents, TRANSFORM_JS, writeJob, type JobDir, type Source } from '../support/replay-fixture.js';

const VALIDATE = `validate:
  against: 2
  dimensions: [country]
  measures: [amount_cents]
  nulls: [country]
`;
/** v3 variants of the fixture transform, each with one deliberate difference from v2. */
const variant = (body: string): string => TRANSFORM_JS.replace('return {', `${body}\n  return {`);
const BR_REVENUE = variant("if (event.country === 'BR') event = { ...event, amount: event.amount * 1.013 };");
const DROP_ONE_PERCENT = variant('if (event.n % 100 === 7) return null;');
const NULL_TEN_PERCENT = variant("if (event.n % 10 === 3) event = { ...event, country: null };");

describe('comparison and validation gate', () => {
  const kafka = testKafka();
  let source: Source;
  const jobs: JobDir[] = [];
  beforeAll(async () => {
    source = await createSource(kafka.client, makeEvents(3000), { partitions: 3 });
  });
  afterAll(() => cleanupDatasets(kafka.client, jobs));

  /** Builds v2 with the plain transform and v3 with `transform`, returns the v3 job. */
  async function versions(transform: string, extra = VALIDATE): Promise<JobDir> {
    const dataset = unique('cmp').replace(/-/g, '_');
    const v2 = writeJob(source, { dataset, version: 2 });
    const v3 = writeJob(source, { dataset, version: 3, transform, extra });
    jobs.push(v2, v3);
    for (const j of [v2, v3]) {
      const r = await cli(['replay', j.spec, '--json']);
      expect(r.code, r.stderr).toBe(0);
    }
    return v3;
  }
  const compare = async (job: JobDir, args: string[] = []): Promise<{ code: number; report: GateReport; text: string }> => {
    const r = await cli(['compare', job.spec, '--json', ...args]);
    expect([0, 3], r.stderr).toContain(r.code);
    return { code: r.code, report: JSON.parse(r.stdout) as GateReport, text: r.stderr };
  };

  it('identical versions pass with every difference zero', async () => {
    const v3 = await versions(TRANSFORM_JS);
    const { code, report } = await compare(v3);
    expect(code).toBe(0);
    expect(report.passed).toBe(true);
    expect(report.totals.every((t) => t.relDiff === 0)).toBe(true);
    expect(report.dimensions[0]?.failing).toEqual([]);
    expect(report.keys).toMatchObject({ onlyInLive: 0, onlyInCandidate: 0, countMismatch: 0 });
    expect(report.buckets.every((b) => b.old === b.new)).toBe(true);
    const table = await cli(['compare', v3.spec]);
    expect(table.stdout).toContain('PASSED');
  });

  it('revenue 1.3% higher in one country fails and names it; listed as expected, it passes', async () => {
    const v3 = await versions(BR_REVENUE);
    const failed = await compare(v3);
    expect(failed.code).toBe(3);
    const br = failed.report.dimensions[0]?.failing.find((f) => f.value === 'BR' && f.metric === 'amount_cents');
    expect(br?.relDiff).toBeCloseTo(0.013, 3);
    expect(br?.new).toBeGreaterThan(br?.old ?? Infinity);
    expect(failed.report.failures.join('\n')).toContain('BR');
    const text = await cli(['compare', v3.spec]);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/FAILED/);
    expect(text.stdout).toMatch(/country\s+BR\s+amount_cents/);

    writeFileSync(join(v3.dir, 'expected.yaml'), '- dimension: country\n  value: BR\n  metric: amount_cents\n  max: 0.02\n  reason: v3 fixes BRL conversion\n- dimension: total\n  metric: count\n  reason: never needed\n');
    writeFileSync(v3.spec, (await import('node:fs')).readFileSync(v3.spec, 'utf8').replace('  nulls: [country]\n', '  nulls: [country]\n  expected: ./expected.yaml\n'));
    const passed = await compare(v3, ['--report', join(v3.dir, 'report.json')]);
    expect(passed.code).toBe(0);
    expect(passed.report.expectations.used.map((u) => u.value)).toEqual(['BR']);
    expect(passed.report.expectations.unused.map((u) => u.metric)).toEqual(['count']);
    const html = (await import('node:fs')).readFileSync(join(v3.dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('BR');
    // The verdict is in the catalog: v3 may now be promoted.
    const promoted = await cli(['promote', v3.dataset, '3']);
    expect(promoted.code, promoted.stderr).toBe(0);
  });

  it('a candidate missing 1% of records fails on the total count', async () => {
    const v3 = await versions(DROP_ONE_PERCENT);
    const { code, report } = await compare(v3);
    expect(code).toBe(3);
    const count = report.totals.find((t) => t.metric === 'count');
    expect(count?.passed).toBe(false);
    expect(count?.relDiff).toBeCloseTo(0.01, 2);
  });

  it('a field nulled in 10% of records fails on its null rate', async () => {
    const v3 = await versions(NULL_TEN_PERCENT);
    const { code, report } = await compare(v3);
    expect(code).toBe(3);
    expect(report.totals.find((t) => t.metric === 'nulls.country')?.passed).toBe(false);
  });

  it('a killed aggregator restarted with the same run id gives the same report as an uninterrupted one', async () => {
    const v3 = await versions(BR_REVENUE);
    const whole = await compare(v3);
    const redis = await connectRedisChecked(testEndpoints().redis);
    const id = unique('killed-compare');
    try {
      const child = spawn(process.execPath, [BIN, 'compare', v3.spec, '--run-id', id, '--json'], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'warn' } });
      const exited = new Promise((r) => child.once('exit', r));
      // Kill it once it has applied some batches but not all.
      await waitFor('the first applied batch', async () => ((await redis.hlen(keys.compareOffsets(id))) > 0 ? true : undefined), 60_000);
      child.kill('SIGKILL');
      await exited;
      const resumed = await compare(v3, ['--run-id', id]);
      const strip = (r: GateReport): unknown => ({ ...r, generatedAt: null });
      expect(strip(resumed.report)).toEqual(strip(whole.report));
    } finally {
      redis.disconnect();
    }
  });

  it('two aggregators sharing one run id give the same report as one alone, nothing counted twice; counting threads or none', async () => {
    const v3 = await versions(BR_REVENUE);
    const whole = await compare(v3);
    const id = unique('shared-compare');
    // One counts on a thread of its own (the default here), the other on the thread that reads Kafka.
    const [a, b] = await Promise.all([compare(v3, ['--run-id', id]), compare(v3, ['--run-id', id, '--threads', '0'])]);
    expect((await compare(v3, ['--threads', '0'])).report).toEqual({ ...whole.report, generatedAt: expect.any(String) as unknown });
    const strip = (r: GateReport): unknown => ({ ...r, generatedAt: null });
    expect(strip(a.report)).toEqual(strip(whole.report));
    expect(strip(b.report)).toEqual(strip(whole.report));
    expect(a.report.totals.find((t) => t.metric === 'count')?.new).toBeGreaterThan(2900);
  });

  it('connections to Redis cut while it runs: it reconnects, sends again what was in flight, and the aggregates equal an uncut run', { timeout: 120_000 }, async () => {
    const v3 = await versions(BR_REVENUE);
    const spec = await loadJobSpec(v3.spec);
    // A Redis of this test's own (Debian's redis-server): cutting its clients touches nothing else.
    const port = 16393;
    const dir = mkdtempSync(join(tmpdir(), 'reprocess-redis-'));
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const endpoint = { url: `redis://127.0.0.1:${port}`, tls: false };
    try {
      const control = await waitFor('the test Redis', async () => connectRedisChecked(endpoint).catch(() => undefined), 20_000);
      const redis = await connectRedisChecked(endpoint);
      const registry = new RegistryClient({ endpoint: testEndpoints().registry });
      const logger = createLogger({ level: 'silent', pretty: false });
      const run = (compareId: string) => aggregate({ spec, compareId, liveVersion: 2, kafka: kafka.client, registry, redis, logger });
      const whole = await run(unique('uncut'));
      const id = unique('cut');
      let done = false;
      const cut = run(id).finally(() => (done = true));
      // Once batches are being applied, every other client's connection is cut, five times:
      // ioredis sends again what was in flight (a batch Redis had applied is then refused).
      await waitFor('the first applied batch', async () => ((await control.hlen(keys.compareOffsets(id))) > 0 || done ? true : undefined), 30_000);
      for (let i = 0; i < 5 && !done; i++) {
        await control.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        await new Promise((r) => setTimeout(r, 30));
      }
      const got = await cut;
      expect({ live: got.live, candidate: got.candidate, keys: got.keys }).toEqual({ live: whole.live, candidate: whole.candidate, keys: whole.keys });
      expect(got.candidate.count).toBeGreaterThan(2900);
      control.disconnect();
      redis.disconnect();
    } finally {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promote: auto — a passing gate ends with the new version live, a failing one leaves the old one live', async () => {
    const dataset = unique('auto').replace(/-/g, '_');
    const v2 = writeJob(source, { dataset, version: 2, extra: 'promote: auto\n' });
    const good = writeJob(source, { dataset, version: 3, extra: `${VALIDATE}promote: auto\n` });
    const bad = writeJob(source, { dataset, version: 4, transform: DROP_ONE_PERCENT, extra: `${VALIDATE.replace('against: 2', 'against: 3')}promote: auto\n` });
    jobs.push(v2, good, bad);
    expect((await cli(['replay', v2.spec, '--json'])).code).toBe(0);
    const r3 = await cli(['replay', good.spec, '--json']);
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stderr).toContain('PASSED');
    expect(r3.stderr).toContain(`${dataset} v3 is live now`);
    const r4 = await cli(['replay', bad.spec, '--json']);
    expect(r4.code, r4.stderr).toBe(0);
    expect(r4.stderr).toContain('FAILED');
    expect(r4.stderr).toContain('not promoted, the live pointer is unchanged');
    const d = JSON.parse((await cli(['datasets', dataset, '--json'])).stdout) as { live: number; versions: { version: number; state: string; source: unknown }[] };
    expect(d.live).toBe(3);
    expect(d.versions.map((v) => [v.version, v.state])).toEqual([[2, 'retired'], [3, 'live'], [4, 'failed']]);
    // Each names the topic it was replayed from, with its partition count (what a dataset reader needs).
    const partitions = await (await kafka.client.admin()).partitionCount(source.topic);
    expect(d.versions.map((v) => v.source)).toEqual([2, 3, 4].map(() => ({ topic: source.topic, partitions })));
  });

  it('following a replay, a finished bucket that fails hard stops the replay early, with the reason in the run', { timeout: 180_000 }, async () => {
    const dataset = unique('abort').replace(/-/g, '_');
    const v2 = writeJob(source, { dataset, version: 2 });
    // v3 loses day 3 entirely (events 48..95): that bucket differs by 100%, far above 0.5% × 10.
    const v3 = writeJob(source, {
      dataset, version: 3, transform: variant('if (event.n >= 48 && event.n < 96) return null;'),
      extra: `${VALIDATE}  abortOnFailure: true\nrate:\n  records: 100\n  burst: 200ms\n`,
    });
    jobs.push(v2, v3);
    expect((await cli(['replay', v2.spec, '--json'])).code).toBe(0);
    const runId = `${dataset}-v3-run`;
    const started = Date.now();
    const replay = startWorker(v3.spec, runId);
    const compared = await cli(['compare', v3.spec, '--follow', '--json']);
    const code = await replay.exited;
    expect(code, replay.output()).toBe(1);
    expect(replay.output()).toContain('stopped by its comparison: bucket 2026-01-03T00:00:00.000Z has 0 records');
    // 3,000 records at 100/s would take 30 s: it stopped long before.
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(compared.code).toBe(3);
    const status = JSON.parse((await cli(['status', runId, '--json'])).stdout) as { state: string; error: string };
    expect(status.state).toBe('failed');
    expect(status.error).toContain('bucket 2026-01-03');
  });

  it('refuses bad input with exit 2: no baseline, a malformed expectations file, an unknown dimension, a bad --threads, a measure too large to sum', async () => {
    const dataset = unique('cmp').replace(/-/g, '_');
    const lonely = writeJob(source, { dataset, version: 3, extra: 'validate:\n  dimensions: [country]\n' });
    jobs.push(lonely);
    const r1 = await cli(['compare', lonely.spec]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('no live version to compare');

    const bad = writeJob(source, { dataset, version: 4, extra: 'validate:\n  against: 2\n  dimensions: [country]\n  expected: ./bad.yaml\n' });
    jobs.push(bad);
    writeFileSync(join(bad.dir, 'bad.yaml'), '- dimension: country\n  metric: nonsense\n  reason: x\n');
    const r2 = await cli(['compare', bad.spec]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/bad\.yaml:\d+/);
    expect(r2.stderr).toContain('nonsense');

    const unknownDim = writeJob(source, { dataset, version: 5, extra: 'validate:\n  against: 2\n  dimensions: [planet]\n' });
    jobs.push(unknownDim);
    const r3 = await cli(['compare', unknownDim.spec]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('planet');

    // A measure too large to sum exactly stops the comparison (not a batch retried for ever).
    const base = writeJob(source, { dataset, version: 2 });
    const huge = writeJob(source, { dataset, version: 6, transform: variant('if (event.n === 5) event = { ...event, amount: 1e11 };'), extra: VALIDATE });
    jobs.push(base, huge);
    for (const j of [base, huge]) expect((await cli(['replay', j.spec, '--json'])).code).toBe(0);
    const r5 = await cli(['compare', huge.spec]);
    expect(r5.code).toBe(2);
    expect(r5.stderr).toContain('measure amount_cents is too large to sum exactly');

    const r4 = await cli(['compare', unknownDim.spec, '--threads', 'many']);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toContain('--threads "many" is not a number of threads');
  });
});
