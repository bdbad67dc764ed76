/**
 * The comparison aggregator's phase: `aggregate()` from dist/compare/aggregator.js over the two
 * sinks the replays wrote (the exactly-once sink as the candidate, the at-least-once sink as the
 * "live" version), then `evaluateGate`. Both sinks hold the same records, so the gate must pass
 * with every difference zero; anything else fails the phase.
 *
 * Besides what every phase reports, this one reads what the aggregation costs Redis, where its
 * state lives: the server's CPU (INFO cpu) and EVALSHA time (INFO commandstats) over the phase,
 * the time the aggregator spent awaiting each Redis command (a thin timing proxy around its
 * connection; it only reads the clock), and the memory the comparison's hashes take (MEMORY
 * USAGE, exact), most of it the per-key record counts.
 */
import type { Redis } from 'ioredis';
import type { Aggregates } from '../dist/compare/aggregator.js';
import type { KeyStats } from '../dist/compare/core/index.js';
import { evaluateGate, type GateReport } from '../dist/compare/core/index.js';
import type { JobSpec } from '../dist/core/index.js';
import { keys } from '../dist/redis/keys.js';
import { round } from './lib.ts';

export interface RedisServerStats {
  /** used_cpu_user + used_cpu_sys of the Redis server (every client's work, not only ours). */
  cpuSeconds: number;
  /** cmdstat_evalsha (and eval) calls and the time Redis spent inside them. */
  scriptCalls: number;
  scriptSeconds: number;
}

/** Redis server CPU and script counters now (subtract two readings for a phase). */
export async function redisServerStats(redis: Redis): Promise<RedisServerStats> {
  const cpu = await redis.info('cpu');
  const stats = await redis.info('commandstats');
  const num = (text: string, field: string): number => Number(new RegExp(`^${field}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
  let calls = 0;
  let usec = 0;
  for (const cmd of ['evalsha', 'eval']) {
    const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`, 'm').exec(stats);
    calls += Number(m?.[1] ?? 0);
    usec += Number(m?.[2] ?? 0);
  }
  return { cpuSeconds: num(cpu, 'used_cpu_user') + num(cpu, 'used_cpu_sys'), scriptCalls: calls, scriptSeconds: usec / 1e6 };
}

export function redisStatsSince(a: RedisServerStats, b: RedisServerStats): RedisServerStats {
  return { cpuSeconds: round(b.cpuSeconds - a.cpuSeconds, 2), scriptCalls: b.scriptCalls - a.scriptCalls, scriptSeconds: round(b.scriptSeconds - a.scriptSeconds, 3) };
}

const TIMED = new Set(['evalsha', 'eval', 'hget', 'hgetall', 'hset', 'del']);

/** The connection with the commands the aggregator awaits timed (count, total ms per command). */
export function timedRedis(redis: Redis, waits: Record<string, { calls: number; ms: number }>): Redis {
  return new Proxy(redis, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || !TIMED.has(prop)) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]): Promise<unknown> => {
        const t0 = performance.now();
        return ((value as (...a: unknown[]) => Promise<unknown>).apply(target, args)).finally(() => {
          const w = (waits[prop] ??= { calls: 0, ms: 0 });
          w.calls++;
          w.ms += performance.now() - t0;
        });
      };
    },
  });
}

export interface ComparisonMemory {
  /** Exact bytes (MEMORY USAGE … SAMPLES 0) per hash. */
  keysHashBytes: { live: number; candidate: number };
  countersHashBytes: { live: number; candidate: number };
  offsetsHashBytes: number;
  /** Fields in each side's per-key hash (= distinct record keys) and counter hash. */
  keysHashFields: { live: number; candidate: number };
  countersHashFields: { live: number; candidate: number };
  /** Per-key hash bytes per distinct key, both sides together. */
  bytesPerDistinctKey: number | null;
}

export async function comparisonMemory(redis: Redis, compareId: string): Promise<ComparisonMemory> {
  const usage = async (key: string): Promise<number> => Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  const k = { live: keys.compareKeys(compareId, 'live'), candidate: keys.compareKeys(compareId, 'candidate') };
  const c = { live: keys.compareCounters(compareId, 'live'), candidate: keys.compareCounters(compareId, 'candidate') };
  const keysHashBytes = { live: await usage(k.live), candidate: await usage(k.candidate) };
  const keysHashFields = { live: await redis.hlen(k.live), candidate: await redis.hlen(k.candidate) };
  const distinct = keysHashFields.live + keysHashFields.candidate;
  return {
    keysHashBytes,
    countersHashBytes: { live: await usage(c.live), candidate: await usage(c.candidate) },
    offsetsHashBytes: await usage(keys.compareOffsets(compareId)),
    keysHashFields,
    countersHashFields: { live: await redis.hlen(c.live), candidate: await redis.hlen(c.candidate) },
    bytesPerDistinctKey: distinct > 0 ? round((keysHashBytes.live + keysHashBytes.candidate) / distinct, 1) : null,
  };
}

/**
 * Every way two aggregates of identical topics could differ. Empty when the gate passed and
 * every total, dimension value, bucket and key count is exactly equal.
 */
export function differences(report: GateReport, keyStats: KeyStats, expected: { records: number }): string[] {
  const out: string[] = [];
  if (!report.passed) out.push(`the gate failed: ${report.failures.join('; ')}`);
  for (const t of report.totals) if (t.relDiff !== 0) out.push(`total ${t.metric}: ${t.old} (live) vs ${t.new} (candidate)`);
  for (const d of report.dimensions) {
    if (d.passingValues !== d.values) out.push(`dimension ${d.dimension}: ${d.passingValues} of ${d.values} values pass`);
    for (const w of d.worst) out.push(`dimension ${d.dimension} = ${w.value}, ${w.metric}: ${w.old} vs ${w.new}`);
  }
  for (const b of report.buckets) if (b.relDiff !== 0) out.push(`bucket ${b.start}: ${b.old} vs ${b.new}`);
  if (keyStats.onlyInLive || keyStats.onlyInCandidate || keyStats.countMismatch) {
    out.push(`keys: ${keyStats.onlyInLive} only in live, ${keyStats.onlyInCandidate} only in candidate, ${keyStats.countMismatch} with different counts (e.g. ${[...keyStats.examples.onlyInLive, ...keyStats.examples.onlyInCandidate, ...keyStats.examples.countMismatch].slice(0, 3).join(', ')})`);
  }
  const count = report.totals.find((t) => t.metric === 'count');
  if (!count || count.old !== expected.records || count.new !== expected.records) out.push(`counted ${count?.old ?? '?'} (live) and ${count?.new ?? '?'} (candidate) records in the window; each sink holds ${expected.records}`);
  return out;
}

/**
 * The bench's comparison of two copies of the example dataset: the example's validate section
 * (dimensions, measure, null field; default bucket, tolerance and quorum) against version `live`.
 * Its expected differences explain v2 → v3 and have nothing to explain between two copies of v3,
 * so none are loaded.
 */
export function benchComparison(base: JobSpec, live: number): JobSpec {
  return { ...base, validate: { ...base.validate, against: live, dimensions: ['country', 'product_category', 'user_segment'], measures: ['revenue_usd'], nulls: ['country'], expected: null } };
}

/** The gate over a comparison's aggregates, with its spec's validate settings and no expected differences. */
export function gateOf(spec: JobSpec, live: number, agg: Aggregates): GateReport {
  const v = spec.validate;
  return evaluateGate(agg.live, agg.candidate, agg.keys, {
    tolerance: v.tolerance, quorum: v.quorum, dimensions: v.dimensions, measures: v.measures, nulls: v.nulls,
    expected: [], bucketMs: v.bucketMs, abortFactor: v.abortFactor,
  }, { dataset: spec.dataset, liveVersion: live, candidateVersion: spec.version, window: agg.window, generatedAt: new Date().toISOString() });
}
