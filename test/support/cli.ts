import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/run.js';

export const BIN = fileURLToPath(new URL('../../dist/bin/reprocess.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process, with its own environment and captured output. */
export async function cli(argv: string[], env: Record<string, string | undefined> = process.env): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    isTTY: false,
    env,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

/** Runs the built `reprocess` binary as a user would (requires `npm run build`). */
export function cliProcess(argv: string[], env: Record<string, string | undefined> = process.env, timeoutMs = 300_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...argv], { env: { ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
