import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';

export interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

/** Starts `reprocess replay` as its own process, as an operator would on another machine. */
export function startWorker(spec: string, runId: string, extra: string[] = [], env: Record<string, string | undefined> = process.env): Worker {
  const child = spawn(process.execPath, [BIN, 'replay', spec, '--run-id', runId, '--json', ...extra], {
    env: { LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
