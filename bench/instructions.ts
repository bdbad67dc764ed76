/**
 * `node bench/instructions.ts`: the instructions the replay's processing takes per record, counted
 * by valgrind (cachegrind, no cache simulation) while `bench/processing.ts` runs under
 * `node --predictable` (no concurrent compiler or GC threads, so the count repeats to about 0.01 %).
 *
 * On a shared 2-core VM the same code's fastest round moved between 2.8 and 4.8 µs per record
 * within minutes; an instruction count does not move, so a change of a few percent in the
 * processing can be told apart (it says nothing of cache misses or memory traffic: confirm with
 * bench/ab.ts). Two runs, of R1 and R2 rounds over the same records: the difference divided by
 * the extra rounds' records leaves out start-up, generating the events and compiling.
 *
 *   node bench/instructions.ts                     # this build
 *   node bench/instructions.ts --build /tmp/before  # another checkout with dist/ built
 *
 * Needs valgrind (Debian: apt-get install valgrind). Takes about a minute and a half.
 */
import { execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCount } from './lib.ts';

const { values } = parseArgs({
  options: {
    build: { type: 'string', default: '.' },
    records: { type: 'string', default: '20000' },
    of: { type: 'string', default: 'processing' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write('node bench/instructions.ts [--build DIR (.)] [--records N (20000)] [--of processing|counting]\n\n  --of counting: the comparison\'s counting (bench/counting.ts) instead of the replay\'s processing\n');
  process.exit(0);
}
const records = parseCount(values.records, '--records');
const of = values.of;
if (of !== 'processing' && of !== 'counting') {
  process.stderr.write(`--of is processing or counting, not "${of}"\n`);
  process.exit(2);
}
const script = `bench/${of}.ts`;
const build = resolve(values.build);
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  process.stderr.write('valgrind was not found: install it (Debian: apt-get install valgrind) and run this again.\n');
  process.exit(2);
}

const ROUNDS = [2, 8] as const;

/** Instructions of one run of the script with `rounds` rounds. */
function instructions(rounds: number): Promise<number> {
  const args = ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--predictable', '--disable-warning=ExperimentalWarning',
    script, '--records', String(records), '--rounds', String(rounds), ...(of === 'processing' ? ['--chunk', '10000'] : [])];
  return new Promise((done, fail) => {
    const child = spawn('valgrind', args, { cwd: build, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      const m = /I\s+refs:\s+([\d,]+)/.exec(err);
      if (code !== 0 || !m) fail(new Error(`valgrind on ${build}/${script} exited with ${String(code)}:\n${err.slice(-2000)}`));
      else done(Number((m[1] as string).replaceAll(',', '')));
    });
  });
}

// Both at once: counts do not depend on what else runs.
const [short, long] = await Promise.all(ROUNDS.map(instructions));
const perRecord = ((long as number) - (short as number)) / ((ROUNDS[1] - ROUNDS[0]) * records);
process.stdout.write(`${build}: ${Math.round(perRecord).toLocaleString('en-US')} instructions per record (${of} alone, ${records.toLocaleString('en-US')} records, rounds ${ROUNDS.join(' and ')})\n`);
