import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths pino replaces with [redacted] wherever they appear in a log object. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'sasl',
  '*.sasl',
  'auth',
  '*.auth',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

export interface LoggerSettings {
  level?: string;
  /** Pretty output for people; JSON for machines. Default: pretty when stderr is a TTY. */
  pretty?: boolean;
  base?: Record<string, unknown>;
}

/** Logs go to stderr so stdout stays clean for `--json` output. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const level = settings.level ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = settings.pretty ?? Boolean(process.stderr.isTTY);
  const options: LoggerOptions = {
    level,
    base: settings.base ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for library callers that inject none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
