/**
 * `node bench/ab.ts`: two or more builds of the product, one replay each in turn, on one kept
 * source, so that a change can be told from the host's drift. On a shared 2-core VM the same
 * replay moves by ±25 % from one minute to the next; runs of two builds made an hour apart say
 * nothing, runs alternated in one sitting do.
 *
 *   npm run bench -- --only alo --runs 1 --keep        # prints the kept source; its job is in the temp folder it names
 *   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npm run build)
 *   npm run build
 *   node bench/ab.ts --job /tmp/reprocess-bench-…/job-v111.yaml --builds .,/tmp/before --runs 4
 *
 * Each run replays the whole window into a fresh version (a new sink topic, left behind: delete
 * them with the source when done) in a child process (`<build>/bench/replay-child.ts`) and reports
 * its records/s, its CPU seconds (all threads), the CPU of its busiest threads (read from
 * /proc/<pid>/task while it runs: the processing threads, the Kafka thread, V8's helpers), the
 * broker's CPU over the run, and how idle the machine was. The medians per build close the table.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { missingNodeFlags } from '../dist/util/node-flags.js';
import { processCpuSeconds, round, stackFacts, threadCpuSeconds } from './lib.ts';

const { values } = parseArgs({
  options: {
    job: { type: 'string' },
    builds: { type: 'string', default: '.' },
    runs: { type: 'string', default: '4' },
    delivery: { type: 'string', default: 'at-least-once' },
    threads: { type: 'string' },
    broker: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
const USAGE = `node bench/ab.ts --job JOB.yaml [--builds DIR,DIR,…] [--runs N (4)] [--delivery at-least-once|exactly-once] [--threads N] [--broker PID]

  --job       a job spec whose source holds the records to replay (e.g. the one a
              "npm run bench -- --only alo --runs 1 --keep" run leaves in its temp folder)
  --builds    checkouts of the product with dist/ built, each run in turn (default: this one);
              node flags for a build's runs after a '|', e.g. ".|--max-semi-space-size=32";
              every run also gets the flags the CLI gives itself on this machine
              (--single-threaded-gc on two cores or fewer; REPROCESS_SINGLE_THREADED_GC=0 leaves it out)
  --threads   every run's processing threads (replay) or counting threads (--compare)
  --broker    the Kafka broker's pid, for its CPU (default: the one "reprocess stack" manages)
  --compare V instead of replaying: run the comparison aggregator (bench/aggregate-child.ts) over
              the job's own sink (its version, as written) against version V of its dataset,
              e.g. the at-least-once sink of the same kept bench run (job-v112.yaml, V 111)`;
if (values.help || !values.job) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
const delivery = values.delivery;
if (delivery !== 'at-least-once' && delivery !== 'exactly-once') throw new Error(`--delivery is at-least-once or exactly-once, not "${String(delivery)}"`);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer, got "${String(values.runs)}"`);
// A build is a checkout, optionally with node flags for its runs after a '|': ".|--max-semi-space-size=32".
const builds = values.builds.split(',').map((b) => {
  const [dir = '.', flags] = b.split('|');
  return flags ? `${resolve(dir)}|${flags}` : resolve(dir);
});
const splitBuild = (b: string): [string, string[]] => {
  const [dir = '.', flags = ''] = b.split('|');
  return [dir, flags.split(' ').filter(Boolean)];
};
// What the CLI would add to a plain `node` on this machine (src/util/node-flags.ts), for every build alike.
const cliFlags = missingNodeFlags({ execArgv: [], env: process.env, cores: availableParallelism() });
const job = readFileSync(values.job, 'utf8');
if (!/^version: \d+$/m.test(job)) throw new Error(`${values.job} has no top-level "version: N" line to change per run`);

const ROOT = resolve(import.meta.dirname, '..');
const broker = values.broker ? Number(values.broker) : stackFacts(ROOT).brokerPid;

/** Jiffies of the whole machine: [busy, all]. */
function machineTicks(): [number, number] {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return [all - (f[3] ?? 0) - (f[4] ?? 0), all];
}

interface Run {
  build: string;
  recordsPerSec: number;
  cpuSeconds: number;
  threads: number[];
  brokerCpuSeconds: number | null;
  machineBusy: number;
}

const compareWith = values.compare === undefined ? null : Number(values.compare);
if (compareWith !== null && !Number.isInteger(compareWith)) throw new Error(`--compare wants a version number, got "${String(values.compare)}"`);

async function replay(build: string, version: number): Promise<Run> {
  let arg: string;
  if (compareWith !== null) {
    arg = JSON.stringify({ spec: resolve(values.job ?? ''), live: compareWith, ...(values.threads ? { threads: Number(values.threads) } : {}) });
  } else {
    const spec = join(tmpdir(), `reprocess-ab-${String(version)}.yaml`);
    writeFileSync(spec, job.replace(/^version: \d+$/m, `version: ${String(version)}`));
    arg = JSON.stringify({ spec, runId: `ab-${randomUUID().slice(0, 8)}`, delivery, ...(values.threads ? { threads: Number(values.threads) } : {}) });
  }
  const b0 = broker ? processCpuSeconds(broker) : null;
  const m0 = machineTicks();
  const [dir, flags] = splitBuild(build);
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...cliFlags, ...flags.filter((f) => !cliFlags.includes(f)), join(dir, 'bench', compareWith !== null ? 'aggregate-child.ts' : 'replay-child.ts'), arg], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // The CPU of each thread, as last seen before it ended.
  const threads = new Map<string, number>();
  const sampler = setInterval(() => {
    try {
      for (const tid of readdirSync(`/proc/${String(child.pid)}/task`)) {
        const cpu = threadCpuSeconds(child.pid ?? 0, tid);
        if (cpu !== null) threads.set(tid, cpu);
      }
    } catch {
      // the child has ended
    }
  }, 50);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`the ${compareWith !== null ? 'comparison' : 'replay'} of ${build} exited with ${String(code)}`);
  const m1 = machineTicks();
  const b1 = broker ? processCpuSeconds(broker) : null;
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { summary: { read: number }; wallSeconds: number; cpuSeconds: number; passed?: boolean; live?: number; candidate?: number };
  if (r.passed === false) throw new Error(`the comparison of ${build} found differences between two copies (live ${String(r.live)}, candidate ${String(r.candidate)} records)`);
  return {
    build,
    recordsPerSec: Math.round(r.summary.read / r.wallSeconds),
    cpuSeconds: round(r.cpuSeconds),
    threads: [...threads.values()].filter((c) => c >= 0.05).sort((a, b) => b - a).map((c) => round(c)),
    brokerCpuSeconds: b0 !== null && b1 !== null ? round(b1 - b0) : null,
    machineBusy: round((m1[0] - m0[0]) / (m1[1] - m0[1]), 3),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

let version = 9_000_000 + Math.floor(Math.random() * 900_000);
const all: Run[] = [];
for (let i = 0; i < runs; i++) {
  for (const build of builds) {
    const run = await replay(build, version++);
    all.push(run);
    process.stdout.write(`${build}  ${run.recordsPerSec.toLocaleString('en-US')} records/s, ${String(run.cpuSeconds)} CPU s (threads ${run.threads.join(' / ')}), broker ${String(run.brokerCpuSeconds ?? '?')} CPU s, machine ${String(Math.round(run.machineBusy * 100))} % busy\n`);
  }
}
process.stdout.write('\nmedians:\n');
for (const build of builds) {
  const mine = all.filter((r) => r.build === build);
  process.stdout.write(`${build}  ${Math.round(median(mine.map((r) => r.recordsPerSec))).toLocaleString('en-US')} records/s, ${round(median(mine.map((r) => r.cpuSeconds)))} CPU s over ${String(mine.length)} runs\n`);
}
