/**
 * One replay in a process of its own, so its peak RSS and CPU profile are the replay's alone:
 *   node [--cpu-prof --cpu-prof-dir D] bench/replay-child.ts '{"spec":"job.yaml","runId":"…","delivery":"exactly-once"}'
 * Prints one JSON line on stdout: the summary, timings, CPU, peak RSS and RSS samples over time.
 */
import { openServices } from '../dist/cli/services.js';
import { loadJobSpec } from '../dist/core/index.js';
import { createLogger } from '../dist/log.js';
import { runReplay } from '../dist/replay/engine.js';
import { newTimes, timedKafka } from './lib.ts';

export interface ChildArgs {
  spec: string;
  runId: string;
  delivery: 'exactly-once' | 'at-least-once';
  /** Processing threads; the product's default when absent. */
  threads?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: false });
const spec = await loadJobSpec(args.spec);
const services = openServices(process.env, logger);
const times = newTimes();
const samples: { read: number; rssMiB: number; heapUsedMiB: number }[] = [];
// With --expose-gc: the live heap after a full GC at 25, 50 and 75 % of the records, which tells
// retained memory (a leak would grow it) from garbage V8 has not collected yet.
const gc = (globalThis as { gc?: () => void }).gc;
const retained: { at: number; heapAfterGcMiB: number; rssMiB: number }[] = [];
const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const cpu0 = process.cpuUsage();
try {
  const redis = await services.redis();
  const started = performance.now();
  const summary = await runReplay({
    spec,
    runId: args.runId,
    kafka: timedKafka(services.kafka, times),
    registry: services.registry,
    redis,
    logger,
    delivery: args.delivery,
    ...(args.threads !== undefined ? { threads: args.threads } : {}),
    onProgress: (s) => {
      const m = process.memoryUsage();
      samples.push({ read: s.read, rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed) });
      const next = [0.25, 0.5, 0.75][retained.length];
      if (gc && next !== undefined && s.totalRecords > 0 && s.read >= next * s.totalRecords) {
        gc();
        const after = process.memoryUsage();
        retained.push({ at: next, heapAfterGcMiB: mib(after.heapUsed), rssMiB: mib(after.rss) });
      }
    },
  });
  const ended = performance.now();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({
    summary,
    wallSeconds: (ended - started) / 1000,
    startupSeconds: times.firstBatchAt === null ? null : (times.firstBatchAt - started) / 1000,
    flowSeconds: times.firstBatchAt !== null && times.lastBatchDoneAt !== null ? (times.lastBatchDoneAt - times.firstBatchAt) / 1000 : null,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    samples,
    retained,
    flowHrUs: times.firstBatchHrUs != null && times.lastBatchHrUs != null ? [times.firstBatchHrUs, times.lastBatchHrUs] : null,
  }) + '\n');
} finally {
  await services.close();
}
// A client that keeps a socket open must not keep the child (and the profile it writes at exit) waiting.
setTimeout(() => process.exit(process.exitCode ?? 0), 5_000).unref();
