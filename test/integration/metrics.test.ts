import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli } from '../support/cli.js';
import { readAll } from '../support/consume.js';
import { cleanupDatasets, testKafka, unique, waitFor } from '../support/env.js';
import { freePort, startPrometheus, type Prometheus } from '../support/prometheus.js';
import { createSource, makeEvents, writeJob, type JobDir, type Source } from '../support/replay-fixture.js';

const DASHBOARDS = fileURLToPath(new URL('../../grafana/dashboards', import.meta.url));
const VALIDATE = `validate:
  against: 2
  dimensions: [country]
  measures: [amount_cents]
  nulls: [country]
`;

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; definition: string }[] };
}

function dashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(`${DASHBOARDS}/${f}`, 'utf8')) as Dashboard);
}

/** A `reprocess` command as its own process, as an operator runs it; killable. */
function start(argv: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...argv], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

const count = async (client: Parameters<typeof readAll>[0], topic: string): Promise<number> => [...(await readAll(client, topic)).values()].reduce((n, r) => n + r.length, 0);
const num = (s: { value: [number, string] } | undefined): number => Number(s?.value[1] ?? NaN);

describe('metrics and dashboards against a real Prometheus', () => {
  const kafka = testKafka();
  const jobs: JobDir[] = [];
  let prom: Prometheus;
  let source: Source;
  let replayPort: number;
  let comparePort: number;

  beforeAll(async () => {
    replayPort = await freePort();
    comparePort = await freePort();
    prom = await startPrometheus([`127.0.0.1:${replayPort}`, `127.0.0.1:${comparePort}`]);
    // Decode errors of several kinds, transform failures (n % 97 == 13) and four partitions.
    source = await createSource(kafka.client, makeEvents(3_000, { 11: 'bad-magic', 250: 'truncated', 1_700: 'unknown-version', 2_900: 'unknown-schema-id' }), { partitions: 4 });
  });

  afterAll(async () => {
    await prom?.stop();
    await cleanupDatasets(kafka.client, jobs);
  });

  it('counts what a run did, survives a killed worker, and every dashboard panel returns data', async () => {
    const dataset = unique('metrics').replace(/-/g, '_');
    // A few seconds long, so Prometheus (1 s interval) scrapes it while it runs: a process that
    // was scraped waits at its end for one more scrape, so its final values are recorded.
    const v2 = writeJob(source, { dataset, version: 2, extra: 'rate:\n  records: 1000/s\n' });
    const v3 = writeJob(source, { dataset, version: 3, extra: `${VALIDATE}rate:\n  records: 200/s\n` });
    jobs.push(v2, v3);

    // 1. v2, uninterrupted and scraped: records written on /metrics = records in the sink.
    const runV2 = unique('m-v2');
    const w2 = start(['replay', v2.spec, '--run-id', runV2, '--metrics-port', String(replayPort)]);
    expect(await w2.exited, w2.output()).toBe(0);
    const sinkV2 = await count(kafka.client, `${dataset}_v2`);
    const writtenV2 = await waitFor('the final v2 counters in Prometheus', async () => {
      const r = await prom.query(`sum(last_over_time(reprocess_records_written_total{run_id="${runV2}"}[5m]))`);
      return r.length ? num(r[0]) : undefined;
    });
    expect(writtenV2).toBe(sinkV2);
    const readV2 = num((await prom.query(`sum(last_over_time(reprocess_records_read_total{run_id="${runV2}"}[5m]))`))[0]);
    const dlqV2 = num((await prom.query(`sum(last_over_time(reprocess_records_dlq_total{run_id="${runV2}"}[5m]))`))[0]);
    expect(readV2).toBe(3_000);
    expect(dlqV2).toBe(await count(kafka.client, `${dataset}_v2.dlq`));
    const decode = await prom.query(`sum by (reason) (last_over_time(reprocess_decode_errors_total{run_id="${runV2}"}[5m]))`);
    expect(Object.fromEntries(decode.map((s) => [s.metric.reason, num(s)]))).toMatchObject({ 'bad-magic': 1, truncated: 1, 'unknown-version': 1, 'unknown-schema-id': 1 });
    // A finished run's gauges stay at their final values.
    expect(num((await prom.query(`max(last_over_time(reprocess_run_progress_ratio{run_id="${runV2}"}[5m]))`))[0])).toBe(1);
    expect(num((await prom.query(`max(last_over_time(reprocess_run_eta_seconds{run_id="${runV2}"}[5m]))`))[0])).toBe(0);
    expect((await cli(['promote', dataset, '2'])).code).toBe(0);

    // 2. v3 throttled, with the comparison beside it; the worker is killed part way and restarted.
    const runV3 = unique('m-v3');
    const compare = start(['compare', v3.spec, '--follow', '--run-id', unique('m-cmp'), '--metrics-port', String(comparePort)]);
    const first = start(['replay', v3.spec, '--run-id', runV3, '--metrics-port', String(replayPort)]);
    await waitFor('v3 to be 30% done', async () => {
      const r = await prom.query(`max(reprocess_run_progress_ratio{run_id="${runV3}"})`);
      return r.length && num(r[0]) >= 0.3 ? true : undefined;
    }, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = start(['replay', v3.spec, '--run-id', runV3, '--metrics-port', String(replayPort)]);

    // 3. While both run, and after a few scrapes of the restarted worker, every panel's query returns data.
    await waitFor('the restarted worker and the comparison to be scraped', async () => {
      const written = await prom.query(`sum(rate(reprocess_records_written_total{run_id="${runV3}"}[5s]))`);
      const read = await prom.query(`sum(reprocess_compare_records_read_total{version="3"})`);
      const progress = await prom.query(`max(reprocess_run_progress_ratio{run_id="${runV3}"})`);
      return written.length && num(written[0]) > 0 && read.length && num(read[0]) > 0 && num(progress[0]) >= 0.5 ? true : undefined;
    }, 60_000);
    const vars: Record<string, string> = { run: runV3, dataset, version: '3', __rate_interval: '10s', __interval: '1s' };
    const substitute = (expr: string): string => expr.replace(/\$(\w+)/g, (_, name: string) => vars[name] ?? `$${name}`);
    const at = Date.now() / 1000;
    const empty: string[] = [];
    let checked = 0;
    for (const d of dashboards()) {
      for (const v of d.templating.list) {
        const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.definition);
        expect(m, `${d.uid} variable ${v.name}`).not.toBeNull();
        const values = await prom.labelValues(m?.[2] ?? '', substitute(m?.[1] ?? ''));
        expect(values, `${d.uid} variable ${v.name}`).toContain(vars[v.name]);
      }
      for (const p of d.panels) {
        for (const t of p.targets ?? []) {
          const expr = substitute(t.expr);
          expect(expr, `${d.uid} / ${p.title}: unresolved variable`).not.toMatch(/\$/);
          checked++;
          if ((await prom.query(expr, at)).length === 0) empty.push(`${d.uid} / ${p.title}: ${expr}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(empty, 'panel queries that returned no data').toEqual([]);

    // 4. Both finish; the gate passes (same transform) and shows on /metrics.
    expect(await second.exited, second.output()).toBe(0);
    expect(await compare.exited, compare.output()).toBe(0);
    const gate = await waitFor('the final gate status', async () => {
      const r = await prom.query(`max(last_over_time(reprocess_gate_status{dataset="${dataset}", version="3"}[5m]))`);
      return r.length && num(r[0]) !== -1 ? num(r[0]) : undefined;
    });
    expect(gate).toBe(1);

    // 5. The restart is a counter reset, not a double count: the rate over the whole run adds up to
    // about the sink (less what the killed worker committed after its last scrape, plus
    // Prometheus's extrapolation at the ends).
    const sinkV3 = await count(kafka.client, `${dataset}_v3`);
    expect(sinkV3).toBe(sinkV2);
    const increase = num((await prom.query(`sum(increase(reprocess_records_written_total{run_id="${runV3}"}[5m]))`))[0]);
    expect(increase).toBeGreaterThan(sinkV3 * 0.75);
    expect(increase).toBeLessThan(sinkV3 * 1.1);
    const restarted = num((await prom.query(`max(resets(reprocess_records_written_total{run_id="${runV3}"}[5m]))`))[0]);
    expect(restarted).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
