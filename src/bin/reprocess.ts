#!/usr/bin/env node
import { relaunchWithNodeFlags } from '../util/node-flags.js';

// Before anything else: on a machine with two cores or fewer, become node --single-threaded-gc
// (util/node-flags.ts; the same process, replaced). The CLI is loaded only after. A setting it
// refuses is reported as any command's error is.
let launchError: unknown = null;
try {
  relaunchWithNodeFlags();
} catch (err) {
  launchError = err;
}
const { failed, run } = await import('../cli/run.js');

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

const io = {
  stdout: (t: string) => process.stdout.write(t),
  stderr: (t: string) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY),
  env: process.env,
  signal: controller.signal,
};
const code = launchError === null ? await run(process.argv.slice(2), io) : failed(io, launchError);
process.exitCode = code;
// Let stdout drain, then leave even if a library keeps a handle open.
setTimeout(() => process.exit(code), 50).unref();
