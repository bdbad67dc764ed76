import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ReprocessError, isReprocessError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal (progress bars, colour). */
  isTTY: boolean;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM; long work stops cleanly when it fires. */
  signal: AbortSignal;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  description: string;
  valueName?: string;
  defaultText?: string;
};

export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  io: Io;
  logger: () => Logger;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Longer text: what it does, what it never does. */
  description?: string;
  options: Record<string, OptionSpec>;
  examples: string[];
  /** Sub-commands shown in help (e.g. `stack up|down|status`). */
  subcommands?: { name: string; summary: string }[];
  minPositionals?: number;
  maxPositionals?: number;
  run(ctx: CommandContext): Promise<number>;
}

export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, GATE_FAILED: 3 } as const;

/** Errors about what the user gave us exit 2; failures of the world exit 1. */
const INPUT_ERRORS = new Set<ErrorCode>(['USAGE', 'SPEC_INVALID', 'CONFIG_INVALID', 'WINDOW_INVALID', 'SOURCE_MISSING', 'UNSAFE_SINK', 'SINK_OWNED', 'RUN_NOT_FOUND', 'DATASET_NOT_FOUND']);

export function exitCodeFor(err: unknown): number {
  if (isReprocessError(err, 'NOT_PROMOTABLE')) return EXIT.GATE_FAILED;
  if (isReprocessError(err) && INPUT_ERRORS.has(err.code)) return EXIT.USAGE;
  return EXIT.ERROR;
}

export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'Show this help.' },
};

export function parseCommandArgs(cmd: Command, argv: string[]): { positionals: string[]; values: CommandContext['values'] } {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, spec] of Object.entries({ ...cmd.options, ...COMMON_OPTIONS })) {
    const { description: _d, valueName: _v, defaultText: _t, ...rest } = spec;
    options[name] = rest;
  }
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { positionals: parsed.positionals, values: parsed.values as CommandContext['values'] };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new ReprocessError('USAGE', message.replace(/\. To specify a positional argument.*$/s, '.'), {
      hint: `Run \`reprocess ${cmd.name} --help\` for the options.`,
      cause,
    });
  }
}

export function formatCommandHelp(cmd: Command): string {
  const lines: string[] = [];
  lines.push(`reprocess ${cmd.name} — ${cmd.summary}`, '', `Usage: ${cmd.usage}`);
  if (cmd.description) lines.push('', cmd.description);
  if (cmd.subcommands?.length) {
    lines.push('', 'Commands:');
    const w = Math.max(...cmd.subcommands.map((s) => s.name.length));
    for (const s of cmd.subcommands) lines.push(`  ${s.name.padEnd(w)}  ${s.summary}`);
  }
  const opts = Object.entries({ ...cmd.options, ...COMMON_OPTIONS });
  lines.push('', 'Options:');
  const flags = opts.map(([name, o]) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`);
  const w = Math.max(...flags.map((f) => f.length));
  opts.forEach(([, o], i) => {
    const def = o.defaultText ? ` (default: ${o.defaultText})` : '';
    lines.push(`  ${(flags[i] ?? '').padEnd(w)}  ${o.description}${def}`);
  });
  if (cmd.examples.length) {
    lines.push('', 'Examples:');
    for (const e of cmd.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}

/** A plain text table with a header row; columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n') + '\n';
}
