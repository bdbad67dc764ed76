import { randomUUID } from 'node:crypto';
import { compareVersions } from '../../compare/run.js';
import { renderTable } from '../../compare/core/index.js';
import { loadJobSpec } from '../../core/index.js';
import { EXIT, type Command } from '../command.js';
import { formatCount } from '../progress.js';
import { WINDOW_OPTIONS, runIdOption, specOverrides, threadsOption } from './shared.js';
import { metricsOptions, openObserved } from '../metrics.js';
import { DEFAULT_METRICS_PORTS } from '../../metrics/server.js';

export const compareCommand: Command = {
  name: 'compare',
  summary: 'Compare the job\'s version with the live one and apply the validation gate (exit 0 passed, 3 failed).',
  usage: 'reprocess compare <job.yaml> [--run-id ID] [--follow] [--report FILE] [--json]',
  description: [
    'Reads both versions over the job\'s window by record timestamp and compares record counts (total',
    'and per validate.bucket), distinct keys and records per key, null rates of validate.nulls, and per',
    'value of each validate.dimensions the count and the sum of each validate.measures. The gate: every',
    'dimension has at least validate.quorum of its values within validate.tolerance on count and every',
    'measure, and totals are within tolerance, unless validate.expected explains the difference.',
    'State is kept in Redis under the run id: several `compare` processes with the same --run-id share',
    'the work, and a stopped one continues where it was. The verdict is recorded in the catalog.',
    'The baseline is validate.against, or the dataset\'s live version.',
  ].join('\n'),
  options: {
    'run-id': { type: 'string', valueName: 'ID', description: 'Comparison id, to share or resume one.', defaultText: 'a new id' },
    follow: { type: 'boolean', description: 'Run beside a replay: keep reading the new version until its run completes.' },
    report: { type: 'string', valueName: 'FILE', description: 'Write the JSON report to FILE and an HTML report beside it (FILE.html).' },
    json: { type: 'boolean', description: 'Print the JSON report instead of the table.' },
    threads: { type: 'string', valueName: 'N', description: 'Threads that count records beside the one that reads Kafka and writes to Redis; 0 does all of it on one thread.', defaultText: '1 on a machine with more than one core, else 0' },
    ...WINDOW_OPTIONS,
    ...metricsOptions(DEFAULT_METRICS_PORTS.compare),
  },
  examples: [
    'reprocess compare examples/user_engagement/job.yaml --report reports/ue-v3.json',
    'reprocess compare job.yaml --follow --run-id ue-v3-check &   # beside `reprocess replay job.yaml`',
  ],
  minPositionals: 1,
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const threads = typeof values.threads === 'string' ? threadsOption(values.threads, 'Example: --threads 1 (the default on a multi-core machine), or 0 to count on the thread that reads Kafka.') : undefined;
    const spec = await loadJobSpec(positionals[0] ?? '', specOverrides(values));
    const compareId = runIdOption(values, () => `${spec.dataset}-v${spec.version}-compare-${randomUUID().slice(0, 8)}`);
    const { metrics, services, catalog, close } = await openObserved({ values, io, logger: logger(), defaultPort: DEFAULT_METRICS_PORTS.compare, datasets: [spec.dataset] });
    try {
      io.stderr(`comparison ${compareId}: ${spec.dataset} v${spec.version}\n`);
      let lastShown = 0;
      const result = await compareVersions({
        spec, compareId, kafka: services.kafka, registry: services.registry, redis: await services.redis(), catalog, metrics: metrics.registry,
        logger: logger(), signal: io.signal, follow: values.follow === true, reportPath: typeof values.report === 'string' ? values.report : null,
        ...(threads !== undefined ? { threads } : {}),
        onProgress: (n) => {
          if (n - lastShown >= 100_000) {
            lastShown = n;
            io.stderr(`read ${formatCount(n)} records\n`);
          }
        },
      });
      io.stdout(values.json ? JSON.stringify(result.report, null, 2) + '\n' : renderTable(result.report));
      if (result.reportPath) io.stderr(`reports: ${result.reportPath} and ${result.htmlPath ?? ''}\n`);
      return result.report.passed ? EXIT.OK : EXIT.GATE_FAILED;
    } finally {
      await close();
    }
  },
};
