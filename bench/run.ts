/**
 * `npm run bench`: measures, in one run so the ratios hold, the raw-copy I/O ceiling (kcat), a
 * naive kafkajs loop, the replay at-least-once and exactly-once, the comparison aggregator over
 * both replays' sinks, the shared token bucket's rate accuracy, and optionally the replay's memory
 * at two sizes and its CPU profile. Writes
 * bench/results/<time>.json and the tables in BENCHMARKS.md. See BENCHMARKS.md for what each
 * figure means.
 *
 * Imports the product from dist/ (built by `npm run build`), as Node runs this file directly.
 */
// First: the bench process runs under the node flags the CLI gives itself on this machine.
import './relaunch.ts';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openServices, type Services } from '../dist/cli/services.js';
import { pointsAtEmbeddedStack } from '../dist/config/endpoints.js';
import { stackUp } from '../dist/stack/index.js';
import { aggregate, resetComparison } from '../dist/compare/aggregator.js';
import { loadJobSpec, type JobSpec } from '../dist/core/index.js';
import { uuidv5 } from '../dist/core/uuid.js';
import { installKafkajsFastpath } from '../dist/kafka/kafkajs-fastpath.js';
import { createLogger } from '../dist/log.js';
import { keys } from '../dist/redis/keys.js';
import { consumerGroupFor, runReplay } from '../dist/replay/engine.js';
import { defaultThreads } from '../dist/replay/workers.js';
import { SINGLE_THREADED_GC } from '../dist/util/node-flags.js';
import { benchComparison, comparisonMemory, differences, gateOf, redisServerStats, redisStatsSince, timedRedis } from './aggregator.ts';
import { summarizeProfile } from './cpuprofile.ts';
import {
  MiB, PeakRss, cpuSince, sleep, figures, gc, loadAverage, log, machineInfo, newTimes, parseCount, processCpuSeconds, round, stackFacts, stealSeconds, timedKafka, vitestRunning,
  type BatchTimes,
} from './lib.ts';
import { naiveUuidv5, runNaive } from './naive.ts';
import { measureRate } from './rate.ts';
import { THROUGHPUT_CONSUMER, rawCopy, type RawCopyResult } from './rawcopy.ts';
import { updateBenchmarksMd, type AggregatorFigures, type BenchResults, type MemoryPoint, type NaiveFigures, type ReplayFigures } from './report.ts';
import { createSource, measureTopic, tempDir, writeJob, type SourceTopic } from './source.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/** The size the targets are read at (the default --records): a backfill runs for hours, so fixed costs are a small part of it. */
const SIZED_BY = 5_000_000;
/** The node flags this process got from relaunch.ts, given to the replays it runs in child processes too. */
const cliNodeFlags = process.execArgv.filter((f) => f === SINGLE_THREADED_GC);
const ROOT = dirname(BENCH_DIR);
const PHASES = ['raw', 'naive', 'alo', 'eos', 'agg', 'rate', 'memory', 'cpuprof'] as const;
type Phase = (typeof PHASES)[number];

const USAGE = `npm run bench -- [options]

  --records N        records in the source topic (default 5000000: a replay's fixed costs, its
                     group join, its last commit and the JIT's warm-up, are some 8 % of a
                     million-record run and under 2 % of this; 100k, 1M accepted)
  --partitions P     source partitions (default 6)
  --only a,b         phases to run: ${PHASES.join(', ')}
                     (default: raw,naive,alo,eos,agg,rate, plus memory / cpuprof when asked for;
                     agg, the comparison aggregator, reads the sinks alo and eos write, so it
                     needs both)
  --memory           also run the exactly-once replay in child processes at N/5 and N records
                     (N capped by --memory-max) and report each one's peak RSS
  --memory-max M     cap of the larger memory size (default 5000000)
  --cpu-prof         also run the exactly-once replay once under node --cpu-prof and report where
                     the CPU goes
  --runs N           measure the raw copies and both replays N times each (default 3), in N
                     rounds (tuned copy, default copy, at-least-once, exactly-once), and keep
                     each one's median: every target ratio divides a replay's median by the
                     median copy with kcat's consumer tuned for throughput (the broker's
                     ceiling); the copy with librdkafka's defaults is kept for reference.
                     (--raw-runs N is the same option under its old name.)
  --threads N        processing threads of every replay (default: the product's, 2 on a machine
                     with more than one core); 1 or 0 to compare
  --rate-target R    records/s for the rate-accuracy check (default 20000)
  --rate-seconds S   duration of each rate-accuracy run (default 5)
  --wait-idle S      wait up to S seconds for a running vitest to finish before starting
                     (default 600; 0 starts at once and only records that it was running)
  --keep             keep the topics, groups, subjects and Redis keys the run created
  --no-doc           do not update BENCHMARKS.md (the results file is still written)
  --render FILE      measure nothing: rewrite BENCHMARKS.md's tables from a results file
                     (bench/results/<time>.json), e.g. after changing how they are laid out
  --help`;

function options() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: String(SIZED_BY) },
      partitions: { type: 'string', default: '6' },
      only: { type: 'string' },
      memory: { type: 'boolean', default: false },
      'memory-max': { type: 'string', default: '5000000' },
      'cpu-prof': { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      'raw-runs': { type: 'string' },
      threads: { type: 'string' },
      'rate-target': { type: 'string', default: '20000' },
      'rate-seconds': { type: 'string', default: '5' },
      'wait-idle': { type: 'string', default: '600' },
      keep: { type: 'boolean', default: false },
      'no-doc': { type: 'boolean', default: false },
      render: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  let phases: Phase[];
  if (values.only) {
    const asked = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = asked.filter((p) => !(PHASES as readonly string[]).includes(p));
    if (bad.length) throw new Error(`--only: unknown phase ${bad.join(', ')}; known: ${PHASES.join(', ')}`);
    phases = asked as Phase[];
    if (phases.includes('agg') && !(phases.includes('alo') && phases.includes('eos'))) throw new Error('--only: agg compares the sinks of the alo and eos replays; add alo,eos');
  } else {
    phases = ['raw', 'naive', 'alo', 'eos', 'agg', 'rate'];
    if (values.memory) phases.push('memory');
    if (values['cpu-prof']) phases.push('cpuprof');
  }
  return {
    records: parseCount(values.records, '--records'),
    partitions: parseCount(values.partitions, '--partitions'),
    phases,
    memoryMax: parseCount(values['memory-max'], '--memory-max'),
    runs: values['raw-runs'] !== undefined ? parseCount(values['raw-runs'], '--raw-runs') : parseCount(values.runs, '--runs'),
    threads: values.threads === undefined ? null : values.threads === '0' ? 0 : parseCount(values.threads, '--threads'),
    rateTarget: parseCount(values['rate-target'], '--rate-target'),
    rateSeconds: parseCount(values['rate-seconds'], '--rate-seconds'),
    waitIdleSeconds: values['wait-idle'] === '0' ? 0 : parseCount(values['wait-idle'], '--wait-idle'),
    keep: values.keep,
    doc: !values['no-doc'],
    render: values.render ?? null,
  };
}


/** What the run created, removed at the end (unless --keep). */
class Created {
  topics = new Set<string>();
  groups = new Set<string>();
  subjects = new Set<string>();
  runIds = new Set<string>();
  compareIds = new Set<string>();

  async remove(services: Services): Promise<void> {
    const admin = await services.kafka.admin();
    const existing = new Set(await admin.listTopics());
    const topics = [...this.topics].filter((t) => existing.has(t));
    if (topics.length) await admin.deleteTopics(topics).catch((err: unknown) => log(`could not delete topics: ${String(err)}`));
    for (const g of this.groups) await admin.deleteGroups([g]).catch(() => undefined);
    for (const c of this.compareIds) await admin.deleteGroups([`reprocess-compare-${c}`]).catch(() => undefined);
    const reg = services.endpoints.registry;
    const headers: Record<string, string> = {};
    if (reg.auth) headers.Authorization = 'Basic ' + Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64');
    for (const s of this.subjects) {
      for (const q of ['', '?permanent=true']) {
        await fetch(`${reg.url}/subjects/${encodeURIComponent(s)}${q}`, { method: 'DELETE', headers, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      }
    }
    const redis = await services.redis();
    for (const id of this.runIds) {
      await redis.del(keys.run(id), keys.runPartitions(id), keys.runWorkers(id), keys.bucket(id));
      await redis.zrem(keys.runs(), id);
    }
    for (const t of this.topics) await redis.del(keys.sinkOwner(t));
    for (const c of this.compareIds) await resetComparison(redis, c);
  }
}

async function main(): Promise<void> {
  const o = options();
  if (o.render) {
    const r = JSON.parse(readFileSync(o.render, 'utf8')) as BenchResults;
    const measured = Object.values(r.results).some((v) => v !== null) || r.rateAccuracy !== null;
    updateBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), r, { main: measured, memory: r.memory !== null, cpu: r.cpuProfile !== null });
    log(`rewrote BENCHMARKS.md's tables from ${o.render}`);
    return;
  }
  // Other engineers' test suites share the broker and the two cores; figures taken meanwhile are noise.
  const waitUntil = Date.now() + o.waitIdleSeconds * 1000;
  if (vitestRunning() && o.waitIdleSeconds > 0) {
    log(`a vitest run is in progress; waiting up to ${o.waitIdleSeconds} s for it to finish`);
    while (vitestRunning() && Date.now() < waitUntil) await sleep(5_000);
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  const tag = `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}-${randomUUID().slice(0, 4)}`;
  const id = `bench-${tag}`;
  const dataset = `bench_${tag.replaceAll('-', '_')}`;
  const has = (p: Phase): boolean => o.phases.includes(p);
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: false });
  // As `reprocess demo` does: on the embedded stack's endpoints, start it unless it is running.
  if (pointsAtEmbeddedStack(process.env)) {
    log('the embedded stack (reprocess stack up): starting what is not running');
    await stackUp({ logger });
  }
  const stack = stackFacts(ROOT);
  const machine = machineInfo(stack, installKafkajsFastpath());
  const stealAtStart = stealSeconds();
  const load = {
    vitestRunningAtStart: vitestRunning(), vitestRunningAtEnd: false, loadAvgAtStart: loadAverage(), loadAvgAtEnd: [] as number[], stealSeconds: null as number | null,
  };
  if (load.vitestRunningAtStart) log('WARNING: a vitest run is in progress; the broker is shared, so the figures will be disturbed');
  log(`run ${id}: ${o.records.toLocaleString('en-US')} records, ${o.partitions} partitions, phases ${o.phases.join(', ')}`);

  const services = openServices(process.env, logger);
  const created = new Created();
  const dir = tempDir();
  const peak = new PeakRss();
  const broker = (): number | null => (stack.brokerPid ? processCpuSeconds(stack.brokerPid) : null);
  const results: BenchResults['results'] = { rawCopy: null, rawCopyDefaults: null, naive: null, replayAtLeastOnce: null, replayExactlyOnce: null, aggregator: null };
  let source: SourceTopic | null = null;
  let rateAccuracy: BenchResults['rateAccuracy'] = null;
  let memory: BenchResults['memory'] = null;
  let cpuProfile: BenchResults['cpuProfile'] = null;

  const makeSource = async (topic: string, records: number): Promise<SourceTopic> => {
    created.topics.add(topic);
    created.subjects.add(`${topic}-value`);
    let last = 0;
    const s = await createSource({
      kafka: services.kafka, registry: services.registry, endpoints: services.endpoints, topic, partitions: o.partitions, records,
      onProgress: (n) => {
        if (n - last >= 250_000) log(`  produced ${(last = n).toLocaleString('en-US')}`);
      },
    });
    log(`source ${topic}: ${s.records.toLocaleString('en-US')} records, ${s.avgRecordBytes} bytes each on average, produced in ${s.produceSeconds} s`);
    return s;
  };

  const job = async (sourceTopic: string, version: number): Promise<JobSpec> => {
    const spec = await loadJobSpec(writeJob({ dir, sourceTopic, dataset, version }));
    for (const t of [spec.sinkTopic, spec.dlqTopic]) created.topics.add(t);
    created.subjects.add(`${spec.sinkTopic}-value`);
    return spec;
  };

  /** Runs fn in this process with its own CPU, peak-RSS and broker-CPU readings. */
  const inProcess = async <T>(fn: (times: BatchTimes) => Promise<T>) => {
    gc();
    peak.reset();
    const times = newTimes();
    const rssAtStartBytes = process.memoryUsage.rss();
    const b0 = broker();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const value = await fn(times);
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuSince(cpu0);
    const b1 = broker();
    return { value, times, startedAt: t0, wallSeconds, cpuSeconds: cpu.cpuSeconds, peakRssBytes: peak.read(), rssAtStartBytes, brokerCpuSeconds: b0 !== null && b1 !== null ? b1 - b0 : null };
  };

  const replay = async (src: SourceTopic, version: number, delivery: 'exactly-once' | 'at-least-once'): Promise<ReplayFigures> => {
    const spec = await job(src.topic, version);
    const runId = `${id}-v${version}`;
    created.runIds.add(runId);
    created.groups.add(consumerGroupFor(runId));
    log(`replay ${delivery} → ${spec.sinkTopic}`);
    const m = await inProcess(async (times) => {
      const svc = openServices(process.env, logger);
      try {
        return await runReplay({ spec, runId, kafka: timedKafka(svc.kafka, times), registry: svc.registry, redis: await svc.redis(), logger, delivery, ...(o.threads !== null ? { threads: o.threads } : {}) });
      } finally {
        await svc.close();
      }
    });
    const s = m.value;
    if (s.state !== 'completed' || s.read !== src.records) throw new Error(`replay ${runId} ${s.state} after reading ${s.read} of ${src.records} records`);
    const { records: sinkRecords, bytes: sinkBytes } = await measureTopic(services.endpoints, spec.sinkTopic);
    if (sinkRecords !== s.written) throw new Error(`${spec.sinkTopic} holds ${sinkRecords} committed records; the replay wrote ${s.written}`);
    const sinkOffsets = (await (await services.kafka.admin()).watermarks(spec.sinkTopic)).reduce((n, w) => n + Number(BigInt(w.high) - BigInt(w.low)), 0);
    const f = figures({ records: src.records, bytes: src.bytes, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes, rssAtStartBytes: m.rssAtStartBytes, brokerCpuSeconds: m.brokerCpuSeconds, startedAt: m.startedAt, times: m.times });
    log(`  ${f.recordsPerSec.toLocaleString('en-US')} records/s (${f.wallSeconds} s, start-up ${f.startupSeconds ?? '?'} s, no batch in hand ${f.noBatchSeconds ?? 0} s, finish ${f.finishSeconds ?? '?'} s), ${f.cpuSeconds} CPU s, peak RSS ${f.peakRssMiB} MiB`);
    return { ...f, delivery, version, runId, sinkTopic: spec.sinkTopic, written: s.written, dlq: s.dlq, filtered: s.filtered, sinkRecords, sinkMarkers: sinkOffsets - sinkRecords, sinkBytes };
  };

  /**
   * The comparison aggregator over the two replays' sinks: the exactly-once sink (the job's own
   * version) as the candidate, the at-least-once sink as the version it is validated against.
   * They hold the same records, so the gate must pass with every difference zero.
   */
  const aggregator = async (alo: ReplayFigures, eos: ReplayFigures, versions: { live: number; candidate: number }): Promise<AggregatorFigures> => {
    const base = await job(source?.topic ?? '', versions.candidate);
    if (base.sinkTopic !== eos.sinkTopic) throw new Error(`the aggregator's candidate ${base.sinkTopic} is not the exactly-once sink ${eos.sinkTopic}`);
    // Against the at-least-once version.
    const spec = benchComparison(base, versions.live);
    const liveTopic = `${spec.dataset}_v${versions.live}`;
    if (liveTopic !== alo.sinkTopic) throw new Error(`the aggregator's live version ${liveTopic} is not the at-least-once sink ${alo.sinkTopic}`);
    const compareId = `${id}-compare-${randomUUID().slice(0, 8)}`;
    created.compareIds.add(compareId);
    log(`comparison aggregator: ${eos.sinkTopic} (candidate) against ${alo.sinkTopic} (live)`);
    const benchRedis = await services.redis();
    const redisWaits: Record<string, { calls: number; ms: number }> = {};
    let read = 0;
    const r0 = await redisServerStats(benchRedis);
    const m = await inProcess(async (times) => {
      const svc = openServices(process.env, logger);
      try {
        const redis = timedRedis(await svc.redis(), redisWaits);
        const agg = await aggregate({ spec, compareId, liveVersion: versions.live, kafka: timedKafka(svc.kafka, times), registry: svc.registry, redis, logger, onProgress: (n) => (read = n) });
        return { agg, report: gateOf(spec, versions.live, agg) };
      } finally {
        await svc.close();
      }
    });
    const redisServer = redisStatsSince(r0, await redisServerStats(benchRedis));
    const { agg, report } = m.value;
    const memory = await comparisonMemory(benchRedis, compareId);
    if (!o.keep) await resetComparison(benchRedis, compareId);
    const expectedRead = alo.sinkRecords + eos.sinkRecords;
    const diffs = differences(report, agg.keys, { records: eos.sinkRecords });
    if (alo.sinkRecords !== eos.sinkRecords) diffs.unshift(`the sinks hold ${alo.sinkRecords} (at-least-once) and ${eos.sinkRecords} (exactly-once) records`);
    if (read !== expectedRead) diffs.unshift(`the aggregator read ${read} records; the two sinks hold ${expectedRead}`);
    if (diffs.length) {
      throw new Error(`comparison aggregator: ${eos.sinkTopic} and ${alo.sinkTopic} hold the same records, but the comparison found ${diffs.length} difference(s):\n  ${diffs.slice(0, 20).join('\n  ')}`);
    }
    const f = figures({
      records: read, bytes: (alo.sinkBytes ?? 0) + (eos.sinkBytes ?? 0), wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes,
      rssAtStartBytes: m.rssAtStartBytes, brokerCpuSeconds: m.brokerCpuSeconds, startedAt: m.startedAt, times: m.times,
    });
    log(`  ${f.recordsPerSec.toLocaleString('en-US')} records/s read (${read.toLocaleString('en-US')} records in ${f.wallSeconds} s), ${f.cpuSeconds} CPU s, peak RSS ${f.peakRssMiB} MiB; gate ${report.passed ? 'passed' : 'failed'} with every difference zero; Redis ${redisServer.cpuSeconds} CPU s`);
    return {
      ...f,
      compareId,
      live: { version: versions.live, topic: alo.sinkTopic, records: agg.live.count },
      candidate: { version: versions.candidate, topic: eos.sinkTopic, records: agg.candidate.count },
      dimensions: spec.validate.dimensions,
      measures: spec.validate.measures,
      nulls: spec.validate.nulls,
      gate: {
        passed: report.passed,
        differences: 0,
        totals: report.totals.length,
        dimensionValues: Object.fromEntries(report.dimensions.map((d) => [d.dimension, d.values])),
        buckets: report.buckets.length,
      },
      keys: { distinctLive: agg.keys.distinctLive, distinctCandidate: agg.keys.distinctCandidate, onlyInLive: agg.keys.onlyInLive, onlyInCandidate: agg.keys.onlyInCandidate, countMismatch: agg.keys.countMismatch },
      redisWaitsSeconds: Object.fromEntries(Object.entries(redisWaits).map(([k, w]) => [k, { calls: w.calls, seconds: round(w.ms / 1000, 3) }])),
      redisServer,
      redisMemory: memory,
    };
  };

  /** The exactly-once replay in a child process (memory, CPU profile). */
  const child = async (src: SourceTopic, version: number, nodeArgs: string[] = []) => {
    const spec = await job(src.topic, version);
    const runId = `${id}-v${version}`;
    created.runIds.add(runId);
    created.groups.add(consumerGroupFor(runId));
    const arg = JSON.stringify({ spec: spec.specPath, runId, delivery: 'exactly-once', ...(o.threads !== null ? { threads: o.threads } : {}) });
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...cliNodeFlags, ...nodeArgs, join(BENCH_DIR, 'replay-child.ts'), arg], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
      let text = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`replay child exited with ${String(code)}`))));
    });
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
      summary: { state: string; read: number; written: number };
      wallSeconds: number; startupSeconds: number | null; flowSeconds: number | null; cpuSeconds: number; peakRssBytes: number;
      samples: { read: number; rssMiB: number; heapUsedMiB: number }[]; flowHrUs: [number, number] | null;
      retained: { at: number; heapAfterGcMiB: number; rssMiB: number }[];
    };
    if (r.summary.state !== 'completed' || r.summary.read !== src.records) throw new Error(`child replay ${runId} ${r.summary.state} after ${r.summary.read} of ${src.records} records`);
    return { ...r, spec, runId };
  };

  try {
    const needSource = o.phases.some((p) => p !== 'rate');
    if (needSource) source = await makeSource(`${id}-events`, o.records);
    const src = source;

    // Rounds: each holds one tuned copy, one default copy and both replays, so that every row
    // sees the same machine (the page cache, the broker's JIT, other tenants) in turn; each row is
    // the median of its runs.
    const median = <T extends { recordsPerSec: number }>(list: T[]): (T & { runs: number[] }) | null => {
      if (list.length === 0) return null;
      const sorted = [...list].sort((a, b) => a.recordsPerSec - b.recordsPerSec);
      return { ...(sorted[Math.floor((sorted.length - 1) / 2)] as T), runs: list.map((r) => r.recordsPerSec) };
    };
    const runs: { tuned: RawCopyResult[]; defaults: RawCopyResult[]; alo: ReplayFigures[]; eos: ReplayFigures[] } = { tuned: [], defaults: [], alo: [], eos: [] };
    if ((has('raw') || has('alo') || has('eos')) && src) {
      if (has('raw')) log('raw copy with kcat: consumer tuned for throughput (the baseline), and with librdkafka\'s defaults (reference)');
      for (let i = 1; i <= o.runs; i++) {
        if (o.runs > 1) log(`round ${i} of ${o.runs}`);
        if (has('raw')) {
          for (const kind of ['tuned', 'defaults'] as const) {
            const sinkTopic = `${id}-rawcopy-${kind}-${i}`;
            created.topics.add(sinkTopic);
            const run = await rawCopy({ endpoints: services.endpoints, kafka: services.kafka, source: src, sinkTopic, dir, brokerPid: stack.brokerPid, consumerSettings: kind === 'tuned' ? THROUGHPUT_CONSUMER : [] });
            runs[kind].push(run);
            log(`  raw copy, ${kind}: ${run.recordsPerSec.toLocaleString('en-US')} records/s, ${run.cpuSeconds} CPU s`);
          }
        }
        // Versions 1x1 (at-least-once) and 1x2 (exactly-once) of round x.
        if (has('alo')) runs.alo.push(await replay(src, 100 + 10 * i + 1, 'at-least-once'));
        if (has('eos')) runs.eos.push(await replay(src, 100 + 10 * i + 2, 'exactly-once'));
      }
      results.rawCopy = median(runs.tuned);
      results.rawCopyDefaults = median(runs.defaults);
      results.replayAtLeastOnce = median(runs.alo);
      results.replayExactlyOnce = median(runs.eos);
      if (o.runs > 1) {
        const med = (label: string, f: { recordsPerSec: number } | null): string => (f ? `${label} ${f.recordsPerSec.toLocaleString('en-US')}` : '');
        log(`  medians of ${o.runs} (records/s): ${[med('raw copy tuned', results.rawCopy), med('with defaults', results.rawCopyDefaults), med('at-least-once', results.replayAtLeastOnce), med('exactly-once', results.replayExactlyOnce)].filter(Boolean).join(', ')}`);
      }
    }

    if (has('naive') && src) {
      log('naive kafkajs loop');
      const spec = await job(src.topic, 100);
      const sinkTopic = `${id}-naive`;
      const groupId = `${id}-naive`;
      created.topics.add(sinkTopic);
      created.groups.add(groupId);
      created.subjects.add(`${sinkTopic}-value`);
      const admin = await services.kafka.admin();
      await admin.createTopic({ topic: sinkTopic, partitions: src.partitions, configs: { 'retention.ms': '-1' } });
      const ends = new Map((await admin.watermarks(src.topic)).map((w) => [w.partition, BigInt(w.high)]));
      const transform = ((await import(pathToFileURL(spec.transformPath).href)) as { default: Parameters<typeof runNaive>[0]['transform'] }).default;
      const upcasters = spec.upcast.modulePath ? ((await import(pathToFileURL(spec.upcast.modulePath).href)) as { default: Parameters<typeof runNaive>[0]['upcasters'] }).default : {};
      const legacy = spec.upcast.legacyIds;
      if (legacy && naiveUuidv5('1000001', legacy.namespace) !== uuidv5('1000001', legacy.namespace)) throw new Error('the naive loop maps legacy ids differently from the product');
      const latestVersion = Math.max(2, legacy ? legacy.upTo + 1 : 1, ...Object.keys(upcasters).map((k) => Number(k) + 1));
      const m = await inProcess(async (times) => {
        const r = await runNaive({
          kafka: services.endpoints.kafka, registry: services.endpoints.registry, sourceTopic: src.topic, sinkTopic, groupId, ends,
          transform, upcasters, legacyIds: legacy, latestVersion, versionField: spec.source.versionField, outputSchema: spec.outputSchema,
          keyField: spec.output.key ?? 'user_id',
        });
        times.firstBatchAt = r.firstBatchAt;
        times.lastBatchDoneAt = r.lastBatchDoneAt;
        times.batches = r.batches;
        return r;
      });
      if (m.value.read < src.records) throw new Error(`the naive loop read ${m.value.read} of ${src.records} records`);
      const sinkRecords = (await measureTopic(services.endpoints, sinkTopic)).records;
      const f = figures({ records: src.records, bytes: src.bytes, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes, rssAtStartBytes: m.rssAtStartBytes, brokerCpuSeconds: m.brokerCpuSeconds, startedAt: m.startedAt, times: m.times });
      results.naive = { ...f, written: m.value.written, failed: m.value.failed, sinkRecords } satisfies NaiveFigures;
      log(`  ${f.recordsPerSec.toLocaleString('en-US')} records/s (${f.wallSeconds} s), ${f.cpuSeconds} CPU s, peak RSS ${f.peakRssMiB} MiB`);
    }

    if (has('agg') && results.replayAtLeastOnce && results.replayExactlyOnce) {
      // Over the sinks of the median replays (every replay's sink holds the same records).
      const live = results.replayAtLeastOnce;
      const candidate = results.replayExactlyOnce;
      results.aggregator = await aggregator(live, candidate, { live: live.version ?? 101, candidate: candidate.version ?? 102 });
    }

    if (has('rate')) {
      log(`rate accuracy: ${o.rateTarget}/s for ${o.rateSeconds} s, 1 and 4 workers`);
      const runs = [];
      for (const workers of [1, 4]) {
        const runId = `${id}-rate${workers}`;
        created.runIds.add(runId);
        const r = await measureRate({ redis: services.endpoints.redis, workers, targetPerSec: o.rateTarget, seconds: o.rateSeconds, runId, bytesPerRecord: source?.avgRecordBytes ?? 110 });
        log(`  ${workers} worker(s): achieved ${r.achievedPerSec}/s over the window, steady ${r.steadyPerSec === null ? '? (too few grants after the burst; raise --rate-seconds)' : `${r.steadyPerSec}/s (${r.steadyRatio}× target)`}`);
        runs.push(r);
      }
      rateAccuracy = { burstMs: 1000, chunkRecords: Math.min(10_000, o.rateTarget), runs };
    }

    if (has('memory') && src) {
      const larger = Math.min(o.records, o.memoryMax);
      const sizes = [Math.round(larger / 5), larger].filter((v, i, a) => a.indexOf(v) === i && v > 0);
      const points: MemoryPoint[] = [];
      for (const [i, size] of sizes.entries()) {
        const s = size === src.records ? src : await makeSource(`${id}-events-${size}`, size);
        log(`memory: exactly-once replay of ${size.toLocaleString('en-US')} records in a child process`);
        const r = await child(s, 103 + i, ['--expose-gc']);
        const at = (share: number): number | null => r.samples.find((p) => p.read >= share * size)?.rssMiB ?? null;
        points.push({
          records: size, sourceTopic: s.topic, wallSeconds: round(r.wallSeconds, 2), recordsPerSec: Math.round(size / r.wallSeconds),
          cpuSeconds: round(r.cpuSeconds, 2), peakRssMiB: round(r.peakRssBytes / MiB, 1),
          rssAtProgressMiB: [at(0.25), at(0.5), at(0.75), r.samples[r.samples.length - 1]?.rssMiB ?? null],
          maxHeapUsedMiB: Math.max(0, ...r.samples.map((p) => p.heapUsedMiB)),
          heapAfterGcMiB: [0.25, 0.5, 0.75].map((q) => r.retained.find((x) => x.at === q)?.heapAfterGcMiB ?? null),
        });
        log(`  peak RSS ${round(r.peakRssBytes / MiB, 1)} MiB, ${Math.round(size / r.wallSeconds)} records/s`);
      }
      const [a, b] = points;
      memory = { points, growthRatio: a && b ? round(b.peakRssMiB / a.peakRssMiB, 3) : null };
    }

    if (has('cpuprof') && src) {
      log('CPU profile: exactly-once replay under node --cpu-prof');
      const profDir = join(dir, 'cpuprof');
      mkdirSync(profDir, { recursive: true });
      const r = await child(src, 110, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500']);
      // One profile per thread: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the
      // main (Kafka) thread, the others are processing threads.
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      const threadOf = (f: string): number => Number(f.split('.').at(-3));
      const file = files.find((f) => threadOf(f) === 0);
      if (!file) throw new Error(`no .cpuprofile of the main thread in ${profDir}`);
      const others = files.filter((f) => f !== file).map((f) => {
        const t = summarizeProfile(join(profDir, f), src.records, r.flowHrUs, 5);
        return { thread: threadOf(f), cpuMs: t.cpuMs, cpuMicrosPerRecord: t.cpuMicrosPerRecord, owners: t.owners.slice(0, 5) };
      });
      cpuProfile = { ...summarizeProfile(join(profDir, file), src.records, r.flowHrUs), delivery: 'exactly-once', recordsPerSec: Math.round(src.records / r.wallSeconds), processingThreads: others };
      log(`  ${cpuProfile.cpuMicrosPerRecord} µs CPU per record on the main thread${others.map((t) => `, ${t.cpuMicrosPerRecord} on processing thread ${t.thread}`).join('')}; profiles kept in ${profDir}`);
    }
  } finally {
    if (!o.keep) {
      log('cleaning up topics, groups, subjects and Redis keys');
      await created.remove(services).catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
    } else log(`kept everything; topics: ${[...created.topics].join(', ')}`);
    await services.close();
    // Job specs and timing files; kept with --keep, or for the profile a --cpu-prof run points at.
    if (!o.keep && !has('cpuprof')) rmSync(dir, { recursive: true, force: true });
  }

  load.vitestRunningAtEnd = vitestRunning();
  load.loadAvgAtEnd = loadAverage();
  const stealAtEnd = stealSeconds();
  load.stealSeconds = stealAtStart === null || stealAtEnd === null ? null : round(stealAtEnd - stealAtStart, 2);
  const r = (a: { recordsPerSec: number } | null, b: { recordsPerSec: number } | null): number | null => (a && b ? round(a.recordsPerSec / b.recordsPerSec, 3) : null);
  const res = results;
  const file = `${stamp}.json`;
  const argv = process.argv.slice(2);
  const out: BenchResults = {
    schema: 1,
    file,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    options: { records: o.records, partitions: o.partitions, only: o.phases, memoryMax: o.memoryMax, rawRuns: o.runs, runs: o.runs, threads: o.threads ?? defaultThreads(), rateTarget: o.rateTarget, rateSeconds: o.rateSeconds },
    machine,
    load,
    source,
    results,
    rateAccuracy,
    memory,
    cpuProfile,
    ratios: {
      eosVsRawCopy: r(res.replayExactlyOnce, res.rawCopy),
      atLeastOnceVsRawCopy: r(res.replayAtLeastOnce, res.rawCopy),
      aggregatorVsReplay: r(res.aggregator, res.replayExactlyOnce),
      naiveVsRawCopy: r(res.naive, res.rawCopy),
      eosVsNaive: r(res.replayExactlyOnce, res.naive),
      atLeastOnceVsNaive: r(res.replayAtLeastOnce, res.naive),
      eosVsAtLeastOnce: r(res.replayExactlyOnce, res.replayAtLeastOnce),
      eosVsDefaultCopy: r(res.replayExactlyOnce, res.rawCopyDefaults ?? null),
      atLeastOnceVsDefaultCopy: r(res.replayAtLeastOnce, res.rawCopyDefaults ?? null),
    },
    notes: {
      aggregator: 'aggregate() + evaluateGate in the bench process over the at-least-once sink (live) and the exactly-once sink (candidate); records = records read from both topics; aggregatorVsReplay = its records/s over the exactly-once replay\'s; the gate must pass with every difference zero',
      units: 'MB = 10^6 bytes of source key+value per second; RSS in MiB; CPU s = user + system seconds of the measured process(es)',
      inProcess: 'naive, both replays and the aggregator run inside the bench process (peak RSS reset per phase via /proc/self/clear_refs); memory and cpuprof phases run in child processes',
      brokerCpu: 'CPU of the Kafka broker process during the phase; includes any other client of the shared broker',
    },
  };
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, file), JSON.stringify(out, null, 2) + '\n');
  log(`wrote bench/results/${file}`);
  if (o.doc) {
    const main = ['raw', 'naive', 'alo', 'eos', 'agg', 'rate'].some((p) => has(p as Phase));
    updateBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), out, { main, memory: memory !== null, cpu: cpuProfile !== null });
    log('updated BENCHMARKS.md');
  }
  const fmt = (v: number | null): string => (v === null ? 'null' : v.toFixed(3));
  process.stdout.write(`\nratios (records/s ÷ records/s, ${o.records.toLocaleString('en-US')} records):\n` +
    Object.entries(out.ratios).map(([k, v]) => `  ${k.padEnd(22)} ${fmt(v)}`).join('\n') + '\n');
  if (o.records < SIZED_BY) {
    process.stdout.write(`\nAt ${o.records.toLocaleString('en-US')} records a replay's fixed costs (joining the consumer group, creating\n` +
      'producers, V8 compiling the hot code: a few tenths of a second) weigh against a kcat copy that has almost none,\n' +
      `so these ratios read low; the targets are read at the default ${SIZED_BY.toLocaleString('en-US')} records (\`npm run bench\`).\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
