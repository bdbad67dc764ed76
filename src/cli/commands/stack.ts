import { ReprocessError } from '../../errors.js';
import { stackDown, stackStatus, stackUp, type ServiceStatus } from '../../stack/index.js';
import { EXIT, table, type Command } from '../command.js';

function render(status: ServiceStatus[]): string {
  return table(
    ['SERVICE', 'STATE', 'ENDPOINT', 'MANAGED', 'VERSION', 'PID'],
    status.map((s) => [
      s.service,
      s.state,
      s.endpoint,
      s.ownership === 'embedded' ? 'by reprocess' : s.ownership === 'external' ? 'external (reused)' : '-',
      s.version ?? '-',
      s.pid !== undefined ? String(s.pid) : '-',
    ]),
  );
}

export const stackCommand: Command = {
  name: 'stack',
  summary: 'Start, stop or inspect the embedded local stack (Kafka, schema registry, Redis).',
  usage: 'reprocess stack <up|down|status> [options]',
  description: [
    'The embedded stack is what every command uses when KAFKA_BROKERS, SCHEMA_REGISTRY_URL and',
    'REDIS_URL are unset: Apache Kafka (KRaft, one node) on 127.0.0.1:9092 (SASL on 9094), Apicurio',
    "Registry's Confluent-compatible API on http://127.0.0.1:8081/apis/ccompat/v7, and Redis on",
    '127.0.0.1:6379 (an already running Redis is reused). It needs Java 17+ and, once, Maven to',
    'download the jars; everything it writes stays under ./.reprocess (or REPROCESS_HOME).',
    '`down` stops only what `up` started and keeps the data; `down --purge` deletes it too.',
  ].join('\n'),
  subcommands: [
    { name: 'up', summary: 'Start what is not running and wait until all three are healthy (idempotent).' },
    { name: 'down', summary: 'Stop what `up` started (services it found running are left alone).' },
    { name: 'status', summary: 'Show each service, its endpoint and who manages it.' },
  ],
  options: {
    json: { type: 'boolean', description: 'Print machine-readable JSON instead of a table.' },
    timeout: { type: 'string', valueName: 'seconds', description: 'How long `up` waits for health.', defaultText: '240' },
    purge: { type: 'boolean', description: 'With `down`: also delete the stack data (topics, schemas).' },
  },
  examples: ['reprocess stack up', 'reprocess stack status --json', 'reprocess stack down --purge'],
  minPositionals: 1,
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const action = positionals[0];
    const timeoutSec = values.timeout === undefined ? 240 : Number(values.timeout);
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
      throw new ReprocessError('USAGE', `--timeout must be a positive number of seconds, got "${String(values.timeout)}".`);
    }
    let status: ServiceStatus[];
    if (action === 'up') {
      status = await stackUp({ logger: logger(), timeoutMs: timeoutSec * 1000, signal: io.signal });
    } else if (action === 'down') {
      status = await stackDown({ logger: logger(), purge: values.purge === true });
    } else if (action === 'status') {
      status = await stackStatus();
    } else {
      throw new ReprocessError('USAGE', `Unknown stack action "${action ?? ''}"; expected up, down or status.`, { hint: 'Run `reprocess stack --help`.' });
    }
    io.stdout(values.json ? JSON.stringify({ services: status }, null, 2) + '\n' : render(status));
    if (action === 'status' && values.json !== true && status.some((s) => s.state !== 'up')) {
      io.stderr('Start it with `reprocess stack up`.\n');
    }
    return EXIT.OK;
  },
};
