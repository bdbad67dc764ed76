import { availableParallelism } from 'node:os';
import { ReprocessError } from '../errors.js';

/**
 * V8's garbage collector marks, sweeps and scavenges from helper threads of its own by default.
 * On a machine with two cores or fewer those threads take turns on the cores the replay's own
 * threads (the Kafka thread and its processing threads) and the comparison's need: with this
 * flag an at-least-once replay moved 5–7 % more records per second for less CPU on a 2-core
 * machine (BENCHMARKS.md). Where cores are to spare, the helpers shorten pauses instead.
 */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

/** The environment variable that turns it on (1) or off (0) whatever the core count. */
export const SINGLE_THREADED_GC_ENV = 'REPROCESS_SINGLE_THREADED_GC';

export interface LaunchFacts {
  /** Node flags the process runs with (`process.execArgv`). */
  execArgv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Cores this process may use (`os.availableParallelism()`). */
  cores: number;
}

/**
 * The node flags the CLI wants and this process lacks: `--single-threaded-gc` where the machine
 * has two cores or fewer, unless REPROCESS_SINGLE_THREADED_GC says otherwise. A setting other
 * than 1 or 0 is a CONFIG_INVALID error.
 */
export function missingNodeFlags(f: LaunchFacts): string[] {
  const setting = f.env[SINGLE_THREADED_GC_ENV];
  let want: boolean;
  if (setting === undefined || setting === '') want = f.cores <= 2;
  else if (setting === '1' || setting === '0') want = setting === '1';
  else {
    throw new ReprocessError('CONFIG_INVALID', `${SINGLE_THREADED_GC_ENV} is "${setting}"; it takes 1 or 0.`, {
      hint: `Set ${SINGLE_THREADED_GC_ENV}=1 to have V8 collect garbage on the thread that made it (node --single-threaded-gc), 0 to let it use helper threads, or unset it: 1 on a machine with two cores or fewer.`,
    });
  }
  return want && !f.execArgv.includes(SINGLE_THREADED_GC) ? [SINGLE_THREADED_GC] : [];
}

/**
 * Gives this process the node flags it lacks by replacing it with node started with them
 * (`process.execve`: the same process id, so signals, the exit code and a supervisor's view of it
 * stay as they are). Returns when nothing is missing or the platform cannot (Windows, a Node
 * without `process.execve`, or the call failing): the process then goes on as it is. Call it
 * first, before any thread, handle or output exists.
 */
export function relaunchWithNodeFlags(): void {
  if (typeof process.execve !== 'function') return;
  const add = missingNodeFlags({ execArgv: process.execArgv, env: process.env, cores: availableParallelism() });
  if (add.length === 0) return;
  try {
    process.execve(process.execPath, [process.execPath, ...add, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch {
    // Not replaced (the binary could not be executed again): run without the flags.
  }
}
