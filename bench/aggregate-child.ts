/**
 * One comparison in a process of its own (for bench/ab.ts --compare): `aggregate()` over a job's
 * sink (the candidate) and an earlier version of its dataset (the live side), with the bench's
 * validate section, under a fresh comparison id whose Redis keys it deletes at the end.
 *   node bench/aggregate-child.ts '{"spec":"job.yaml","live":111}'   ("threads": N for other than the default counting threads)
 * Prints one JSON line on stdout: records read, wall and CPU seconds, Redis's CPU over the run,
 * and whether the gate passed.
 */
import { randomUUID } from 'node:crypto';
import { openServices } from '../dist/cli/services.js';
import { aggregate, resetComparison } from '../dist/compare/aggregator.js';
import { loadJobSpec } from '../dist/core/index.js';
import { createLogger } from '../dist/log.js';
import { benchComparison, gateOf, redisServerStats, redisStatsSince } from './aggregator.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as { spec: string; live: number; threads?: number };
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: false });
const base = await loadJobSpec(args.spec);
// As bench/run.ts's aggregator phase.
const spec = benchComparison(base, args.live);
const services = openServices(process.env, logger);
const compareId = `ab-compare-${randomUUID().slice(0, 8)}`;
try {
  const redis = await services.redis();
  const r0 = await redisServerStats(redis);
  let read = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const agg = await aggregate({ spec, compareId, liveVersion: args.live, kafka: services.kafka, registry: services.registry, redis, logger, onProgress: (n) => (read = n), ...(args.threads !== undefined ? { threads: args.threads } : {}) });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const report = gateOf(spec, args.live, agg);
  const redisServer = redisStatsSince(r0, await redisServerStats(redis));
  await resetComparison(redis, compareId);
  process.stdout.write(JSON.stringify({
    summary: { read }, wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, redisCpuSeconds: redisServer.cpuSeconds,
    passed: report.passed && agg.live.count === agg.candidate.count, live: agg.live.count, candidate: agg.candidate.count,
  }) + '\n');
} finally {
  await services.close();
}
setTimeout(() => process.exit(process.exitCode ?? 0), 5_000).unref();
