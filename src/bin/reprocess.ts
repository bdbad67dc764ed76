#!/usr/bin/env node
import { isReprocessError } from '../errors.js';
import { relaunchWithNodeFlags } from '../util/node-flags.js';

// Before anything else: on a machine with two cores or fewer, become node --single-threaded-gc
// (util/node-flags.ts; the same process, replaced). The CLI is loaded only after.
try {
  relaunchWithNodeFlags();
} catch (err) {
  if (!isReprocessError(err)) throw err;
  process.stderr.write(`error: ${err.message}\n${err.hint ? `  ${err.hint}\n` : ''}`);
  process.exit(2);
}
const { run } = await import('../cli/run.js');

// The one place that owns the process: signals become an abort, the exit code comes from run().
const controller = new AbortController();
let signals = 0;
const onSignal = (sig: NodeJS.Signals): void => {
  signals++;
  if (signals === 1) {
    process.stderr.write(`\n${sig} received: finishing the current step and shutting down (again to force).\n`);
    controller.abort(new Error(sig));
  } else {
    process.exit(130);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await run(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY),
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
// Let stdout drain, then leave even if a library keeps a handle open.
setTimeout(() => process.exit(code), 50).unref();
