/**
 * The results file's shape and its rendering into BENCHMARKS.md. Each kind of measurement owns a
 * block between marker comments; a run rewrites only the blocks it measured, so a memory-only
 * run does not wipe the throughput table and nothing outside the markers is touched.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ComparisonMemory, RedisServerStats } from './aggregator.ts';
import type { CpuProfileSummary } from './cpuprofile.ts';
import type { MachineInfo, PhaseFigures } from './lib.ts';
import type { RateFigures } from './rate.ts';
import type { RawCopyResult } from './rawcopy.ts';
import type { SourceTopic } from './source.ts';

export interface ReplayFigures extends PhaseFigures {
  delivery: 'exactly-once' | 'at-least-once';
  /** The sink's dataset version (absent in results files written before it was kept). */
  version?: number;
  runId: string;
  sinkTopic: string;
  written: number;
  dlq: number;
  filtered: number;
  /** Records a read_committed kcat consumer counted in the sink afterwards. */
  sinkRecords: number;
  /** Sink offsets not holding records: transaction markers (one per sink partition per transaction). */
  sinkMarkers: number;
  /** Key + value bytes of the sink's committed records (absent in results files written before it was kept). */
  sinkBytes?: number;
  /** records/s of every run when the row is the median of several (absent in older files). */
  runs?: number[];
}

/**
 * The comparison aggregator over both replays' sinks. `records` are the records it read from
 * both topics together (so records/s is per record read, the same unit as the replay's);
 * `bytes` their key + value bytes.
 */
export interface AggregatorFigures extends PhaseFigures {
  compareId: string;
  /** The at-least-once sink, compared as the live version. */
  live: { version: number; topic: string; records: number };
  /** The exactly-once sink, compared as the candidate. */
  candidate: { version: number; topic: string; records: number };
  dimensions: string[];
  measures: string[];
  nulls: string[];
  gate: { passed: boolean; differences: number; dimensionValues: Record<string, number>; buckets: number; totals: number };
  keys: { distinctLive: number; distinctCandidate: number; onlyInLive: number; onlyInCandidate: number; countMismatch: number };
  /** Time the aggregator spent awaiting each Redis command it sent (timed around its connection). */
  redisWaitsSeconds: Record<string, { calls: number; seconds: number }>;
  /** Redis server CPU and script time over the phase (INFO; includes any other client of the server). */
  redisServer: RedisServerStats;
  /** The comparison's hashes in Redis just before they were deleted. */
  redisMemory: ComparisonMemory;
}

export interface NaiveFigures extends PhaseFigures {
  written: number;
  failed: number;
  sinkRecords: number;
}

export interface MemoryPoint {
  records: number;
  sourceTopic: string;
  wallSeconds: number;
  recordsPerSec: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** RSS after 25/50/75/100% of the records (from the progress snapshots). */
  rssAtProgressMiB: (number | null)[];
  maxHeapUsedMiB: number;
  /** Live heap after a forced full GC at 25/50/75 % of the records: what the replay retains. */
  heapAfterGcMiB: (number | null)[];
}

export interface BenchResults {
  schema: 1;
  file: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  options: { records: number; partitions: number; only: string[]; memoryMax: number; rawRuns?: number; runs?: number; threads?: number; rateTarget: number; rateSeconds: number };
  machine: MachineInfo;
  load: {
    vitestRunningAtStart: boolean; vitestRunningAtEnd: boolean; loadAvgAtStart: number[]; loadAvgAtEnd: number[];
    /** CPU seconds the hypervisor took from the vCPUs over the run (/proc/stat steal); absent in older files. */
    stealSeconds?: number | null;
  };
  source: SourceTopic | null;
  results: {
    rawCopy: RawCopyResult | null;
    /** The same copy with librdkafka's default consumer settings (absent in older files). */
    rawCopyDefaults?: RawCopyResult | null;
    naive: NaiveFigures | null;
    replayAtLeastOnce: ReplayFigures | null;
    replayExactlyOnce: ReplayFigures | null;
    /** null in files from before the aggregator was measured, or when the phase was not run. */
    aggregator: AggregatorFigures | null;
  };
  rateAccuracy: { burstMs: number; chunkRecords: number; runs: RateFigures[] } | null;
  memory: { points: MemoryPoint[]; growthRatio: number | null } | null;
  cpuProfile: (CpuProfileSummary & {
    delivery: string;
    recordsPerSec: number;
    /** The processing threads' profiles, in brief (older results have none). */
    processingThreads?: { thread: number; cpuMs: number; cpuMicrosPerRecord: number; owners: { owner: string; ms: number; share: number }[] }[];
  }) | null;
  ratios: {
    eosVsRawCopy: number | null;
    atLeastOnceVsRawCopy: number | null;
    aggregatorVsReplay: number | null;
    naiveVsRawCopy: number | null;
    eosVsNaive: number | null;
    atLeastOnceVsNaive: number | null;
    eosVsAtLeastOnce: number | null;
    /** Against the copy with librdkafka's default consumer settings (absent in older files). */
    eosVsDefaultCopy?: number | null;
    atLeastOnceVsDefaultCopy?: number | null;
  };
  notes: Record<string, string>;
}

const n = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const x = (v: number | null): string => (v === null ? '–' : `${v.toFixed(3)}×`);

function header(r: BenchResults): string[] {
  const m = r.machine;
  return [
    `Measured ${r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} with \`${r.command}\` → [\`bench/results/${r.file}\`](bench/results/${r.file}).`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${n(m.memoryBytes / 2 ** 30, 1)} GiB RAM, ${m.os} (Linux ${m.kernel}). ` +
      `Node ${m.node}${m.gc === '--single-threaded-gc' ? ' with --single-threaded-gc (as the CLI runs on a machine with two cores or fewer)' : ''}, Kafka ${m.kafka} (one KRaft broker on this machine), ${m.registry}, kafkajs ${m.kafkajs} (product's fast path ${m.kafkajsFastpath ?? 'not recorded'}; the naive loop runs kafkajs as shipped), avsc ${m.avsc}, kcat ${m.kcat} (librdkafka ${m.librdkafka}).`,
    `Other load: vitest ${r.load.vitestRunningAtStart || r.load.vitestRunningAtEnd ? '**was running** (figures are disturbed)' : 'not running'}; load average ${r.load.loadAvgAtStart.join(' / ')} at start, ${r.load.loadAvgAtEnd.join(' / ')} at the end` +
      (typeof r.load.stealSeconds === 'number'
        ? `; steal time (CPU the host took from the ${m.cores} vCPUs) ${n(r.load.stealSeconds, 1)} s over the run's ${n((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000, 0)} s.`
        : '.') +
      (r.options.threads !== undefined ? ` Replays with ${r.options.threads} processing thread${r.options.threads === 1 ? '' : 's'}.` : ''),
  ];
}

export function renderMain(r: BenchResults): string {
  const s = r.source;
  const lines = header(r);
  if (s) {
    lines.push(`Source: ${n(s.records)} records (${n(s.avgRecordBytes, 1)} bytes key+value on average, ${n(s.bytes / 1e6, 1)} MB; ` +
      `${Object.entries(s.byVersion).map(([v, c]) => `${n(c)} v${v}`).join(', ')}) in ${s.partitions} partitions.`);
  }
  lines.push('');
  lines.push('| what | records/s | MB/s | wall s | start-up s | finish s | records/s between first and last batch | CPU s | CPU µs/record | peak RSS MiB (at start) | broker CPU s |');
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  const row = (name: string, f: PhaseFigures | null, note = ''): void => {
    if (!f) return;
    lines.push(`| ${name}${note} | ${n(f.recordsPerSec)} | ${n(f.mbPerSec, 2)} | ${n(f.wallSeconds, 2)} | ${n(f.startupSeconds, 2)} | ${n(f.finishSeconds, 2)} | ${n(f.steadyRecordsPerSec)} | ${n(f.cpuSeconds, 2)} | ${n(f.cpuMicrosPerRecord, 1)} | ${n(f.peakRssMiB, 0)}${f.rssAtStartMiB !== undefined ? ` (${n(f.rssAtStartMiB, 0)})` : ''} | ${n(f.brokerCpuSeconds, 2)} |`);
  };
  const res = r.results;
  const copies = (c: { runs?: number[] } | null | undefined, what = 'copies'): string => (c?.runs && c.runs.length > 1 ? `, median of ${c.runs.length} ${what}: ${c.runs.map((x) => n(x)).join(' / ')}` : '');
  row(res.rawCopy?.consumerSettings?.length ? 'raw copy (kcat → kcat, consumer tuned for throughput: the baseline)' : 'raw copy (kcat → kcat)', res.rawCopy, copies(res.rawCopy));
  row('raw copy with librdkafka\'s default consumer settings (reference)', res.rawCopyDefaults ?? null, copies(res.rawCopyDefaults));
  row('naive kafkajs loop, at-least-once', res.naive);
  row('replay, at-least-once', res.replayAtLeastOnce, copies(res.replayAtLeastOnce, 'runs'));
  row('replay, exactly-once', res.replayExactlyOnce, copies(res.replayExactlyOnce, 'runs'));
  if (res.aggregator) row('comparison aggregator (both sinks: records read from the two topics)', res.aggregator);
  else lines.push('| comparison aggregator (not measured in this run) | – | – | – | – | – | – | – | – | – | – |');
  const waits = (label: string, f: ReplayFigures | null): void => {
    if (!f?.waitsSeconds) return;
    const fmt = ([k, w]: [string, { calls: number; seconds: number }]): string => `\`${k.replace(/^close: /, '')}\` ${n(w.seconds, 2)} s / ${n(w.calls)} call${w.calls === 1 ? '' : 's'}`;
    const all = Object.entries(f.waitsSeconds).filter(([, w]) => w.seconds >= 0.005);
    const parts = all.filter(([k]) => !k.startsWith('close: ')).map(fmt);
    const closing = all.filter(([k]) => k.startsWith('close: ')).map(fmt);
    const tx = f.delivery === 'exactly-once' && f.sinkMarkers > 0 ? `, ${n(f.sinkMarkers)} transaction markers in the sink` : '';
    lines.push(`- ${label}: ${n(f.batches)} consumed batches${tx}; awaiting Kafka calls: ${parts.join(', ')}${closing.length ? `; closing: ${closing.join(', ')}` : ''}.`);
  };
  if (res.replayAtLeastOnce?.waitsSeconds || res.replayExactlyOnce?.waitsSeconds) {
    lines.push('');
    lines.push('Time the replays spent awaiting Kafka calls (timed around the product\'s KafkaClient; includes the client-side encoding done inside the call), and closing clients at the end:');
    lines.push('');
    waits('at-least-once', res.replayAtLeastOnce);
    waits('exactly-once', res.replayExactlyOnce);
  }
  const a = res.aggregator;
  if (a) {
    const size = (b: number): string => (b >= 2 ** 20 ? `${n(b / 2 ** 20, 2)} MiB` : `${n(b / 1024, 1)} KiB`);
    const m = a.redisMemory;
    const rw = Object.entries(a.redisWaitsSeconds).filter(([, w]) => w.seconds >= 0.005).map(([k, w]) => `\`${k}\` ${n(w.seconds, 2)} s / ${n(w.calls)} call${w.calls === 1 ? '' : 's'}`);
    lines.push('');
    lines.push(`Comparison aggregator: \`aggregate()\` + \`evaluateGate\` in the bench process over \`${a.live.topic}\` (the at-least-once sink as the live v${a.live.version}, ${n(a.live.records)} records) and \`${a.candidate.topic}\` (the exactly-once sink as candidate v${a.candidate.version}, ${n(a.candidate.records)} records); dimensions ${a.dimensions.join(', ')}, measures ${a.measures.join(', ')}, nulls ${a.nulls.join(', ')}.`);
    lines.push('');
    lines.push(`- gate: **${a.gate.passed ? 'passed' : 'FAILED'}** with ${a.gate.differences === 0 ? 'every difference zero' : `${n(a.gate.differences)} differences`} (${a.gate.totals} totals, ${Object.entries(a.gate.dimensionValues).map(([d, v]) => `${n(v)} ${d} values`).join(', ')}, ${n(a.gate.buckets)} day buckets; ${n(a.keys.distinctLive)} / ${n(a.keys.distinctCandidate)} distinct record keys, ${n(a.keys.onlyInLive + a.keys.onlyInCandidate)} only in one side, ${n(a.keys.countMismatch)} counted differently).`);
    lines.push(`- ${n(a.batches)} consumed batches over both topics; awaiting Redis: ${rw.join(', ')}. Redis server over the phase: ${n(a.redisServer.cpuSeconds, 2)} CPU s, ${n(a.redisServer.scriptSeconds, 2)} s inside ${n(a.redisServer.scriptCalls)} script calls (INFO; includes any other client of this Redis).`);
    lines.push(`- Redis memory of the comparison: per-key record counts ${size(m.keysHashBytes.live)} + ${size(m.keysHashBytes.candidate)} for ${n(m.keysHashFields.live)} + ${n(m.keysHashFields.candidate)} distinct keys (${n(m.bytesPerDistinctKey, 1)} bytes per key per side), counters ${size(m.countersHashBytes.live)} + ${size(m.countersHashBytes.candidate)} (${n(m.countersHashFields.live)} + ${n(m.countersHashFields.candidate)} fields), offsets ${size(m.offsetsHashBytes)} (\`MEMORY USAGE\`, exact); deleted after the phase.`);
  }
  lines.push('');
  lines.push('| ratio (records/s ÷ records/s) | value |');
  lines.push('|---|--:|');
  const ra = r.ratios;
  lines.push(`| exactly-once replay ÷ raw copy (\`eosVsRawCopy\`) | ${x(ra.eosVsRawCopy)} |`);
  lines.push(`| at-least-once replay ÷ raw copy (\`atLeastOnceVsRawCopy\`) | ${x(ra.atLeastOnceVsRawCopy)} |`);
  if (ra.eosVsDefaultCopy != null) lines.push(`| exactly-once replay ÷ raw copy with default consumer settings (reference) | ${x(ra.eosVsDefaultCopy)} |`);
  if (ra.atLeastOnceVsDefaultCopy != null) lines.push(`| at-least-once replay ÷ raw copy with default consumer settings (reference) | ${x(ra.atLeastOnceVsDefaultCopy)} |`);
  lines.push(`| naive loop ÷ raw copy | ${x(ra.naiveVsRawCopy)} |`);
  lines.push(`| exactly-once replay ÷ naive loop | ${x(ra.eosVsNaive)} |`);
  lines.push(`| at-least-once replay ÷ naive loop | ${x(ra.atLeastOnceVsNaive)} |`);
  lines.push(`| exactly-once ÷ at-least-once replay | ${x(ra.eosVsAtLeastOnce)} |`);
  lines.push(`| aggregator (records read from both sinks) ÷ exactly-once replay (\`aggregatorVsReplay\`) | ${ra.aggregatorVsReplay === null ? '– (aggregator not measured in this run)' : x(ra.aggregatorVsReplay)} |`);
  if (r.rateAccuracy) {
    lines.push('');
    lines.push(`Rate accuracy (one Redis token bucket, burst ${r.rateAccuracy.burstMs} ms, chunks of ${n(r.rateAccuracy.chunkRecords)} records):`);
    lines.push('');
    lines.push('| workers | target/s | seconds | achieved/s (whole window, incl. burst) | ideal with burst/s | steady/s (after burst) | steady ÷ target |');
    lines.push('|--:|--:|--:|--:|--:|--:|--:|');
    for (const q of r.rateAccuracy.runs) {
      lines.push(`| ${q.workers} | ${n(q.targetPerSec)} | ${q.seconds} | ${n(q.achievedPerSec)} (${q.ratio.toFixed(3)}×) | ${n(q.idealWithBurstPerSec)} | ${n(q.steadyPerSec)} | ${q.steadyRatio === null ? '– (run longer)' : q.steadyRatio.toFixed(3)} |`);
    }
  }
  return lines.join('\n');
}

export function renderMemory(r: BenchResults): string {
  const mem = r.memory;
  if (!mem) return '';
  const lines = header(r);
  lines.push('');
  lines.push('| records | source topic | records/s | CPU s | peak RSS MiB | RSS at 25 / 50 / 75 / 100 % MiB | max heap used MiB | live heap after full GC at 25 / 50 / 75 % MiB |');
  lines.push('|--:|---|--:|--:|--:|---|--:|---|');
  for (const p of mem.points) {
    lines.push(`| ${n(p.records)} | \`${p.sourceTopic}\` | ${n(p.recordsPerSec)} | ${n(p.cpuSeconds, 2)} | ${n(p.peakRssMiB, 0)} | ${p.rssAtProgressMiB.map((v) => n(v, 0)).join(' / ')} | ${n(p.maxHeapUsedMiB, 0)} | ${p.heapAfterGcMiB.map((v) => n(v, 1)).join(' / ')} |`);
  }
  if (mem.growthRatio !== null) lines.push('', `Peak RSS at the larger size ÷ at the smaller: ${mem.growthRatio.toFixed(3)}×.`);
  return lines.join('\n');
}

export function renderCpu(r: BenchResults): string {
  const c = r.cpuProfile;
  if (!c) return '';
  const lines = header(r);
  lines.push('');
  lines.push(`Exactly-once replay of ${n(c.records)} records under \`node --cpu-prof\` (${n(c.recordsPerSec)} records/s with the profiler on). ` +
    `Analysed stretch: ${c.window === 'flow' ? 'first batch → last batch' : 'the whole process'} (${n(c.windowMs / 1000, 1)} s), ` +
    `${n(c.cpuMs / 1000, 2)} s of sampled CPU = **${n(c.cpuMicrosPerRecord, 1)} µs per record** on the replay's main (Kafka) thread` +
    (c.processingThreads?.length
      ? `; ${c.processingThreads.map((t) => `processing thread ${t.thread}: ${n(t.cpuMicrosPerRecord, 1)} µs per record (${t.owners.map((o) => `${o.owner} ${n(o.share, 0)} %`).join(', ')})`).join('; ')}. The tables below are the main thread's.`
      : '.'));
  lines.push('');
  lines.push('| charged to (self time; Node internals and native frames go to their caller) | CPU ms | share |');
  lines.push('|---|--:|--:|');
  for (const k of c.owners.slice(0, 10)) lines.push(`| ${k.owner} | ${n(k.ms)} | ${n(k.share, 1)} % |`);
  lines.push('');
  lines.push('| function (self time) | where | CPU ms | share |');
  lines.push('|---|---|--:|--:|');
  for (const f of c.functions) lines.push(`| \`${f.fn}\` | ${f.where ? `\`${f.where}\`` : '–'} | ${n(f.ms)} | ${n(f.share, 1)} % |`);
  if (c.productInclusive?.length) {
    lines.push('');
    lines.push('| the product\'s and the transform\'s functions (inclusive: with what they call) | where | CPU ms | share |');
    lines.push('|---|---|--:|--:|');
    for (const f of c.productInclusive) lines.push(`| \`${f.fn}\` | \`${f.where}\` | ${n(f.ms)} | ${n(f.share, 1)} % |`);
  }
  return lines.join('\n');
}

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->`; appends the block where missing. */
export function replaceBlock(doc: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${content.trim()}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

export function updateBenchmarksMd(path: string, r: BenchResults, which: { main: boolean; memory: boolean; cpu: boolean }): void {
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  if (which.main) doc = replaceBlock(doc, 'bench', renderMain(r));
  if (which.memory) doc = replaceBlock(doc, 'bench-memory', renderMemory(r));
  if (which.cpu) doc = replaceBlock(doc, 'bench-cpu', renderCpu(r));
  writeFileSync(path, doc);
}
