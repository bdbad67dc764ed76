import { readFileSync } from 'node:fs';
import { ReprocessError, errorMessage, isReprocessError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { EXIT, exitCodeFor, formatCommandHelp, parseCommandArgs, type Command, type Io } from './command.js';
import { commands } from './commands/index.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function mainHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'reprocess — Kafka backfills as a first-class workflow.',
    '',
    'Replay a window of a raw topic into a versioned dataset topic (user_engagement_v3 beside the live',
    'user_engagement_v2), compare the two, promote the new one atomically, roll back instantly.',
    '',
    'Usage: reprocess <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Environment (unset: the embedded stack from `reprocess stack up`):',
    '  KAFKA_BROKERS         host:port,... of the Kafka cluster        (127.0.0.1:9092)',
    '  KAFKA_SASL_MECHANISM  PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512, with KAFKA_SASL_USERNAME/PASSWORD',
    '  KAFKA_SSL             true for TLS; KAFKA_SSL_CA_FILE/CERT_FILE/KEY_FILE for your PEM files',
    '  SCHEMA_REGISTRY_URL   Confluent-API registry base URL           (http://127.0.0.1:8081/apis/ccompat/v7)',
    '                        with SCHEMA_REGISTRY_USERNAME/PASSWORD for basic auth',
    '  REDIS_URL             redis:// or rediss:// URL                  (redis://127.0.0.1:6379)',
    '  LOG_LEVEL             trace | debug | info | warn | error        (info)',
    '  METRICS_PORT          /metrics port of replay, compare, demo; 0: none  (9464 replay, 9465 compare)',
    '',
    'Run `reprocess <command> --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}

function printError(io: Io, err: unknown): void {
  if (isReprocessError(err)) {
    io.stderr(`error: ${err.message}\n`);
    if (err.hint) io.stderr(`  ${err.hint}\n`);
  } else {
    io.stderr(`error: ${errorMessage(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
  }
}

/** Reports an error that ended a command line before or instead of run(), and gives its exit code. */
export function failed(io: Io, err: unknown): number {
  printError(io, err);
  return exitCodeFor(err);
}

/** Runs one command line and returns the exit code; only the bin file exits the process. */
export async function run(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    io.stdout(target ? formatCommandHelp(target) : mainHelp());
    return EXIT.OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${version()}\n`);
    return EXIT.OK;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    io.stderr(`error: unknown command "${name}".\n\n`);
    io.stderr(mainHelp());
    return EXIT.USAGE;
  }
  let logger: Logger | undefined;
  try {
    const { positionals, values } = parseCommandArgs(cmd, rest);
    if (values.help) {
      io.stdout(formatCommandHelp(cmd));
      return EXIT.OK;
    }
    if (cmd.minPositionals !== undefined && positionals.length < cmd.minPositionals) {
      throw new ReprocessError('USAGE', `Missing argument.`, { hint: `Usage: ${cmd.usage}` });
    }
    if (cmd.maxPositionals !== undefined && positionals.length > cmd.maxPositionals) {
      throw new ReprocessError('USAGE', `Unexpected argument "${positionals[cmd.maxPositionals] ?? ''}".`, { hint: `Usage: ${cmd.usage}` });
    }
    return await cmd.run({
      positionals,
      values,
      io,
      logger: () => (logger ??= createLogger({ base: { cmd: cmd.name } })),
    });
  } catch (err) {
    printError(io, err);
    if (isReprocessError(err, 'USAGE')) io.stderr(`\n${formatCommandHelp(cmd)}`);
    return exitCodeFor(err);
  } finally {
    logger?.flush();
  }
}
