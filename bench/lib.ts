/**
 * Small measuring helpers shared by the benchmark phases: CPU and peak-RSS readings for this
 * process and for children, broker CPU, machine facts, and a KafkaClient wrapper that timestamps
 * the first and last consumed batch (so start-up can be told apart from steady throughput).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastpathState } from '../dist/kafka/kafkajs-fastpath.js';
import type { BatchContext, ConsumedBatch, Consumer, ConsumerHandlers, KafkaClient, Producer, Transaction } from '../dist/kafka/index.js';

export const MB = 1_000_000;
export const MiB = 1024 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** "100000", "100_000", "100k", "1M" → a positive integer. */
export function parseCount(text: string, flag: string): number {
  const m = /^([0-9][0-9_]*(?:\.[0-9]+)?)([kKmM]?)$/.exec(text.trim());
  const unit = m?.[2]?.toLowerCase() === 'k' ? 1e3 : m?.[2]?.toLowerCase() === 'm' ? 1e6 : 1;
  const n = m?.[1] ? Math.round(Number(m[1].replaceAll('_', '')) * unit) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} wants a positive integer (e.g. 100000, 100k, 1M), got "${text}"`);
  return n;
}

// ───────────────────────── this process ─────────────────────────

/**
 * Peak RSS of this process since the last reset. Writing 5 to /proc/self/clear_refs resets the
 * kernel's high-water mark (VmHWM), so each in-process phase gets its own peak.
 */
export class PeakRss {
  readonly exact: boolean;
  private sampled = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    let ok = false;
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      ok = readStatusKb('VmHWM') !== null;
    } catch {
      ok = false;
    }
    this.exact = ok;
  }

  reset(): void {
    if (this.exact) writeFileSync('/proc/self/clear_refs', '5');
    this.sampled = process.memoryUsage.rss();
    clearInterval(this.timer);
    // Fallback where clear_refs is not allowed: sample every 50 ms.
    if (!this.exact) this.timer = setInterval(() => (this.sampled = Math.max(this.sampled, process.memoryUsage.rss())), 50).unref();
  }

  /** Bytes. */
  read(): number {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.exact) return (readStatusKb('VmHWM') ?? 0) * 1024;
    return Math.max(this.sampled, process.memoryUsage.rss());
  }
}

function readStatusKb(field: string, pid: number | 'self' = 'self'): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  return m?.[1] ? Number(m[1]) : null;
}

/** CPU seconds (user + system) this process used since `from`. */
export function cpuSince(from: NodeJS.CpuUsage): { cpuSeconds: number; userSeconds: number; systemSeconds: number } {
  const d = process.cpuUsage(from);
  return { cpuSeconds: (d.user + d.system) / 1e6, userSeconds: d.user / 1e6, systemSeconds: d.system / 1e6 };
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

// ───────────────────────── other processes ─────────────────────────

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a running process, in seconds; null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  return statCpuSeconds(`/proc/${String(pid)}/stat`);
}

/** CPU seconds of one thread (`/proc/<pid>/task/<tid>`) so far, or null once it has ended. */
export function threadCpuSeconds(pid: number, tid: string): number | null {
  return statCpuSeconds(`/proc/${String(pid)}/task/${tid}/stat`);
}

function statCpuSeconds(path: string): number | null {
  try {
    const stat = readFileSync(path, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** What `/usr/bin/time -f '%e %U %S %M'` wrote for a child: wall, user, system seconds and peak RSS (kB). */
export function readGnuTime(file: string): { wallSeconds: number; cpuSeconds: number; peakRssBytes: number } {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const [e, u, s, m] = last.trim().split(/\s+/).map(Number);
  if ([e, u, s, m].some((v) => v === undefined || !Number.isFinite(v))) throw new Error(`unexpected /usr/bin/time output in ${file}: ${lines.join(' | ')}`);
  return { wallSeconds: e ?? 0, cpuSeconds: (u ?? 0) + (s ?? 0), peakRssBytes: (m ?? 0) * 1024 };
}

/** True while a vitest run is in progress on this machine (other engineers' suites load the broker). */
export function vitestRunning(): boolean {
  const r = spawnSync('pgrep', ['-f', 'vitest'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().length > 0;
}

export function loadAverage(): number[] {
  return loadavg().map((n) => round(n, 2));
}

/**
 * CPU seconds the hypervisor has taken from this machine's vCPUs since boot (steal time, the
 * eighth field of /proc/stat's `cpu` line, in USER_HZ = 100 ticks a second), or null where the
 * kernel does not say. On a shared VM, steal over a run tells a slow host from slow code.
 */
export function stealSeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    const steal = Number(line?.trim().split(/\s+/)[8]);
    return Number.isFinite(steal) ? steal / 100 : null;
  } catch {
    return null;
  }
}

// ───────────────────────── the machine ─────────────────────────

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  kernel: string;
  node: string;
  /** V8 flags the bench process ran under that the CLI gives itself (bench/relaunch.ts): `--single-threaded-gc` or none. */
  gc?: string;
  kafka: string;
  registry: string;
  kafkajs: string;
  /** Whether the product's kafkajs fast path was in place (src/kafka/kafkajs-fastpath.ts). */
  kafkajsFastpath: string;
  avsc: string;
  kcat: string;
  librdkafka: string;
}

export function machineInfo(stack: { kafka: string; registry: string }, fastpath: FastpathState): MachineInfo {
  const require = createRequire(import.meta.url);
  const version = (pkg: string): string => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  let pretty = osType();
  try {
    pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? pretty;
  } catch {
    // not Linux, or no os-release
  }
  let kcat = 'not installed';
  let librdkafka = 'unknown';
  const v = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  const text = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  const m = /Version ([^\s]+).*librdkafka ([^\s]+)/.exec(text);
  if (m) {
    kcat = m[1] ?? kcat;
    librdkafka = m[2] ?? librdkafka;
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    os: pretty,
    kernel: release(),
    node: process.version,
    gc: process.execArgv.includes('--single-threaded-gc') ? '--single-threaded-gc' : 'V8 helper threads',
    kafka: stack.kafka,
    registry: stack.registry,
    kafkajs: version('kafkajs'),
    kafkajsFastpath: fastpath.installed ? 'installed' : `not installed (${fastpath.reason ?? 'unknown'})`,
    avsc: version('avsc'),
    kcat,
    librdkafka,
  };
}

// ───────────────────────── batch timing ─────────────────────────

/** First batch seen and last batch finished, in performance.now() ms. */
export interface BatchTimes {
  firstBatchAt: number | null;
  lastBatchDoneAt: number | null;
  records: number;
  batches: number;
  /** The same two moments in µs of process.hrtime, the clock V8's CPU profiles are stamped with. */
  firstBatchHrUs?: number | null;
  lastBatchHrUs?: number | null;
  /** Time spent awaiting each Kafka call the replay makes (count, total ms); closing calls are named 'close: …'. */
  waits?: Record<string, { calls: number; ms: number }>;
  /** Time after the first batch with no batch being handled: the consumer fetching, or the run ending. */
  noBatchMs?: number;
  /** Batches being handled now, and since when none was. */
  active?: number;
  idleSince?: number | null;
}

export function newTimes(): BatchTimes {
  return { firstBatchAt: null, lastBatchDoneAt: null, records: 0, batches: 0, firstBatchHrUs: null, lastBatchHrUs: null, waits: {} };
}

const hrUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * The product's KafkaClient with consumers whose onBatch is timed, and producer and offset calls
 * whose waits are summed. Only timestamps are taken, so what the replay does is unchanged; it
 * lets the report separate start-up (planning, topic creation, the group join) from the records'
 * flow, and the flow's CPU from its waits on the broker.
 */
export function timedKafka(inner: KafkaClient, times: BatchTimes): KafkaClient {
  const timed = <T>(name: string, p: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const done = (): void => {
      const w = ((times.waits ??= {})[name] ??= { calls: 0, ms: 0 });
      w.calls++;
      w.ms += performance.now() - t0;
    };
    return p().finally(done);
  };
  const wrapTx = (tx: Transaction): Transaction => ({
    send: (topic, records) => timed('tx.send', () => tx.send(topic, records)),
    sendEncoded: (topic, batches) => timed('tx.sendEncoded', () => tx.sendEncoded(topic, batches)),
    sendOffsets: (g, topic, offsets) => timed('tx.sendOffsets', () => tx.sendOffsets(g, topic, offsets)),
    commit: () => timed('tx.commit', () => tx.commit()),
    abort: () => timed('tx.abort', () => tx.abort()),
  });
  return {
    admin: () => inner.admin(),
    async producer(o) {
      const p = await timed(o?.transactionalId ? 'producer.create (transactional)' : 'producer.create', () => inner.producer(o));
      const wrapped: Producer = {
        send: (topic, records) => timed('producer.send', () => p.send(topic, records)),
        sendEncoded: (topic, batches) => timed('producer.sendEncoded', () => p.sendEncoded(topic, batches)),
        transaction: async () => wrapTx(await timed('producer.transaction', () => p.transaction())),
        close: () => timed('close: producer', () => p.close()),
      };
      return wrapped;
    },
    async consumer(opts) {
      const c = await inner.consumer(opts);
      const wrapped: Consumer = {
        subscribe: (topics) => c.subscribe(topics),
        run: (handlers: ConsumerHandlers) =>
          c.run({
            ...handlers,
            onBatch: async (batch: ConsumedBatch, ctx: BatchContext) => {
              const now = performance.now();
              times.firstBatchAt ??= now;
              times.firstBatchHrUs ??= hrUs();
              if (times.idleSince != null) times.noBatchMs = (times.noBatchMs ?? 0) + now - times.idleSince;
              times.idleSince = null;
              times.active = (times.active ?? 0) + 1;
              try {
                await handlers.onBatch(batch, ctx);
              } finally {
                times.lastBatchDoneAt = performance.now();
                times.lastBatchHrUs = hrUs();
                times.active = (times.active ?? 1) - 1;
                if (times.active === 0) times.idleSince = times.lastBatchDoneAt;
                // The columns where the client read them so: `records` would make an object per record.
                times.records += (batch.columns ?? batch.records).length;
                times.batches++;
              }
            },
          }),
        pause: (t, p) => c.pause(t, p),
        resume: (t, p) => c.resume(t, p),
        seek: (t, p, o) => c.seek(t, p, o),
        commitOffsets: (t, o) => timed('consumer.commitOffsets', () => c.commitOffsets(t, o)),
        close: () => timed('close: consumer', () => c.close()),
      };
      return wrapped;
    },
    close: () => inner.close(),
  };
}

// ───────────────────────── a measured phase ─────────────────────────

export interface PhaseFigures {
  records: number;
  bytes: number;
  wallSeconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  cpuSeconds: number;
  cpuMicrosPerRecord: number;
  peakRssMiB: number;
  /** In-process phases: this process's RSS when the phase began (after a GC), included in the peak. */
  rssAtStartMiB?: number;
  /** Kafka broker process CPU during the phase (includes anyone else's load on it). */
  brokerCpuSeconds: number | null;
  /** Time until the first batch arrived (planning, topic creation, group join), where known. */
  startupSeconds?: number | null;
  /** Records over first-batch → last-batch-done, where known. */
  steadyRecordsPerSec?: number | null;
  /** Time from the last batch done to the call's return (noticing the end, closing), where known. */
  finishSeconds?: number | null;
  /** Time between the first batch and the last with no batch being handled (the consumer fetching). */
  noBatchSeconds?: number;
  /** Batches the consumer handed over (records in them may repeat after a rebalance), where known. */
  batches?: number;
  /** Seconds spent awaiting each Kafka call while records flowed, where measured. */
  waitsSeconds?: Record<string, { calls: number; seconds: number }>;
}

export function figures(input: {
  records: number;
  bytes: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  rssAtStartBytes?: number;
  brokerCpuSeconds: number | null;
  startedAt?: number;
  times?: BatchTimes;
}): PhaseFigures {
  const f: PhaseFigures = {
    records: input.records,
    bytes: input.bytes,
    wallSeconds: round(input.wallSeconds, 3),
    recordsPerSec: Math.round(input.records / input.wallSeconds),
    mbPerSec: round(input.bytes / MB / input.wallSeconds, 2),
    cpuSeconds: round(input.cpuSeconds, 2),
    cpuMicrosPerRecord: round((input.cpuSeconds * 1e6) / input.records, 1),
    peakRssMiB: round(input.peakRssBytes / MiB, 1),
    brokerCpuSeconds: input.brokerCpuSeconds === null ? null : round(input.brokerCpuSeconds, 2),
  };
  if (input.rssAtStartBytes !== undefined) f.rssAtStartMiB = round(input.rssAtStartBytes / MiB, 1);
  if (input.times && input.startedAt !== undefined) {
    const t = input.times;
    f.startupSeconds = t.firstBatchAt === null ? null : round((t.firstBatchAt - input.startedAt) / 1000, 3);
    f.steadyRecordsPerSec = t.firstBatchAt !== null && t.lastBatchDoneAt !== null && t.lastBatchDoneAt > t.firstBatchAt
      ? Math.round(input.records / ((t.lastBatchDoneAt - t.firstBatchAt) / 1000))
      : null;
    if (t.batches > 0) f.batches = t.batches;
    if (t.noBatchMs !== undefined) f.noBatchSeconds = round(t.noBatchMs / 1000, 3);
    if (t.waits && Object.keys(t.waits).length) f.waitsSeconds = Object.fromEntries(Object.entries(t.waits).map(([k, w]) => [k, { calls: w.calls, seconds: round(w.ms / 1000, 3) }]));
    f.finishSeconds = t.lastBatchDoneAt === null ? null : round(input.wallSeconds - (t.lastBatchDoneAt - input.startedAt) / 1000, 3);
  }
  return f;
}

/** What `reprocess stack status` says of the stack the bench runs on. */
export interface StackFacts {
  kafka: string;
  registry: string;
  brokerPid: number | null;
}

export function stackFacts(root: string): StackFacts {
  try {
    const out = execFileSync(process.execPath, [join(root, 'dist/bin/reprocess.js'), 'stack', 'status', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const services = (JSON.parse(out) as { services: { service: string; version?: string; pid?: number; ownership?: string }[] }).services;
    const kafka = services.find((s) => s.service === 'kafka');
    const registry = services.find((s) => s.service === 'registry');
    return { kafka: kafka?.version ?? 'unknown', registry: registry?.version ?? 'unknown registry', brokerPid: kafka?.pid ?? null };
  } catch {
    return { kafka: 'unknown', registry: 'unknown registry', brokerPid: null };
  }
}
