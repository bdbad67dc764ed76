import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { withVersion, type Catalog } from '../catalog/index.js';
import type { JobSpec } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import type { KafkaClient } from '../kafka/index.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/index.js';
import type { Registry } from 'prom-client';
import { CompareMetrics } from '../metrics/compare.js';
import { aggregate, readAggregates, type Aggregates } from './aggregator.js';
import { BucketJudge } from './buckets.js';
import { evaluateGate, renderHtml, type GateReport } from './core/index.js';

export interface CompareOptions {
  spec: JobSpec;
  compareId: string;
  kafka: KafkaClient;
  registry: RegistryClient;
  redis: Redis;
  catalog: Catalog;
  logger: Logger;
  signal?: AbortSignal;
  follow?: boolean;
  /** JSON report path; the HTML report is written beside it (same name, .html). */
  reportPath?: string | null;
  /** Counting threads (aggregator.ts AggregateOptions.threads). */
  threads?: number;
  onProgress?: (read: number) => void;
  /** Where to register the comparison's metrics (differences, gate status, records read). */
  metrics?: Registry;
}

export interface CompareResult {
  report: GateReport;
  reportPath: string | null;
  htmlPath: string | null;
}

/** The version to compare with: validate.against, else the live version; never the candidate itself. */
export async function baselineVersion(spec: JobSpec, catalog: Catalog): Promise<number> {
  if (spec.validate.against !== null) return spec.validate.against;
  const live = await catalog.liveVersion(spec.dataset);
  if (live === null || live === spec.version) {
    throw new ReprocessError('SPEC_INVALID', `${spec.dataset} has no live version to compare v${spec.version} with${live === spec.version ? ` (v${spec.version} itself is live)` : ''}.`, {
      hint: 'Set validate.against to the version to compare with, or promote a version first.',
      context: { dataset: spec.dataset },
    });
  }
  return live;
}

/**
 * Compares the job's version with the baseline over the job's window, evaluates the gate, writes
 * the reports and records the verdict in the catalog (so `promote` can act on it).
 */
export async function compareVersions(o: CompareOptions): Promise<CompareResult> {
  const { spec } = o;
  const liveVersion = await baselineVersion(spec, o.catalog);
  const metrics = o.metrics ? new CompareMetrics(o.metrics, { compareId: o.compareId, dataset: spec.dataset, version: spec.version, baseline: liveVersion }) : null;
  const v = spec.validate;
  const gateConfig = {
    tolerance: v.tolerance, quorum: v.quorum, dimensions: v.dimensions, measures: v.measures, nulls: v.nulls,
    expected: v.expected?.items ?? [], bucketMs: v.bucketMs, abortFactor: v.abortFactor,
  };
  const evaluate = (agg: Pick<Aggregates, 'live' | 'candidate' | 'window'>, keys: Aggregates['keys'] | null): GateReport =>
    evaluateGate(agg.live, agg.candidate, keys, gateConfig, { dataset: spec.dataset, liveVersion, candidateVersion: spec.version, window: agg.window, generatedAt: new Date().toISOString() });
  let lastProvisional = 0;
  const provisional = async (): Promise<void> => {
    if (!metrics || Date.now() - lastProvisional < 5_000) return;
    lastProvisional = Date.now();
    const sides = await readAggregates(o.redis, o.compareId, spec);
    metrics.report(evaluate({ ...sides, window: { from: '', to: '' } }, null), false);
  };
  const judge = new BucketJudge({ spec, compareId: o.compareId, kafka: o.kafka, redis: o.redis, logger: o.logger, liveTopic: `${spec.dataset}_v${liveVersion}` });
  let lastJudged = 0;
  // Following a replay: judge finished buckets every couple of seconds; done once its run ended.
  const follow = o.follow
    ? async (): Promise<boolean> => {
        const v = (await o.catalog.get(spec.dataset))?.versions.find((x) => x.version === spec.version);
        if (Date.now() - lastJudged >= 2_000) {
          lastJudged = Date.now();
          await judge.check(v?.run ?? null).catch((err: unknown) => o.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'bucket check failed; trying again'));
        }
        await provisional().catch((err: unknown) => o.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'provisional gate evaluation failed'));
        return v?.runState === 'completed' || v?.runState === 'failed';
      }
    : undefined;
  const agg = await aggregate({
    spec, compareId: o.compareId, liveVersion, kafka: o.kafka, registry: o.registry, redis: o.redis, logger: o.logger,
    ...(o.signal ? { signal: o.signal } : {}), ...(follow ? { follow } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(metrics ? { onRecords: (side: 'live' | 'candidate', n: number) => metrics.read(side, n) } : {}),
  });
  const report = evaluate(agg, agg.keys);
  metrics?.report(report, true);

  let reportPath: string | null = null;
  let htmlPath: string | null = null;
  if (o.reportPath) {
    reportPath = resolve(o.reportPath);
    htmlPath = reportPath.replace(/\.json$/i, '') + '.html';
    mkdirSync(dirname(reportPath), { recursive: true });
    writeFileSync(reportPath, JSON.stringify(report, null, 2) + '\n');
    writeFileSync(htmlPath, renderHtml(report));
  }
  await o.catalog.updateRetrying(spec.dataset, (r) => {
    const current = r.versions.find((x) => x.version === spec.version);
    if (!current) return null;
    const state = current.state === 'live' || current.state === 'retired' ? current.state : report.passed ? 'passed' : 'failed';
    return withVersion(r, spec.version, { gate: report.passed ? 'passed' : 'failed', state, report: reportPath });
  });
  return { report, reportPath, htmlPath };
}
