import { randomUUID } from 'node:crypto';
import { loadJobSpec } from '../../core/index.js';
import { runReplay } from '../../replay/engine.js';
import { EXIT, type Command } from '../command.js';
import { ProgressDisplay, formatCount, formatDuration } from '../progress.js';
import { actor } from '../../catalog/index.js';
import { join } from 'node:path';
import { stackLayout } from '../../stack/index.js';
import { WINDOW_OPTIONS, finishAutoPromotion, runIdOption, specOverrides, threadsOption } from './shared.js';
import { metricsOptions, openObserved } from '../metrics.js';
import { DEFAULT_METRICS_PORTS } from '../../metrics/server.js';

export function newRunId(dataset: string, version: number): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${dataset}-v${version}-${stamp}-${randomUUID().slice(0, 4)}`;
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Replay the job\'s window into <dataset>_v<N>, exactly once; resume a run with --run-id.',
  usage: 'reprocess replay <job.yaml> [--run-id ID] [--from T] [--to T] [--rate R] [--json]',
  description: [
    'Decodes each record of the window with the schema it was written in, upcasts old versions, runs',
    'the transform and writes the dataset\'s new version topic (created if missing). Records that',
    'cannot be decoded or transformed go to <dataset>_v<N>.dlq with headers saying why; the run',
    'stops above dlq.maxRatio. Output, DLQ records and source offsets commit in one transaction,',
    'so a run that is stopped or killed resumes where it left off: run the same command with its',
    '--run-id. Start the same --run-id on several machines to share the partitions.',
    'It never writes to the live version, nor to a topic without the _v<N> suffix.',
  ].join('\n'),
  options: {
    'run-id': { type: 'string', valueName: 'ID', description: 'Run id to start or resume.', defaultText: '<dataset>-v<N>-<time>-<random>' },
    ...WINDOW_OPTIONS,
    rate: { type: 'string', valueName: 'R', description: 'Records per second for this run, overriding rate.records (e.g. 5000/s).', defaultText: 'rate.records' },
    json: { type: 'boolean', description: 'Print one JSON summary at the end (progress goes to stderr).' },
    'at-least-once': { type: 'boolean', description: 'Skip transactions: a crash can write a chunk twice. For sinks read by consumers that cannot use read_committed; see BENCHMARKS.md for what it gains.', defaultText: 'exactly-once' },
    threads: { type: 'string', valueName: 'N', description: 'Threads that decode, upcast, transform and encode beside the one that talks to Kafka; 0 does all of it on one thread.', defaultText: '1 on a 2-core machine, 2 on more cores, 0 on one' },
    ...metricsOptions(DEFAULT_METRICS_PORTS.replay),
  },
  examples: [
    'reprocess replay examples/user_engagement/job.yaml',
    'reprocess replay job.yaml --run-id ue-v3-backfill --rate 5000/s',
    'reprocess replay job.yaml --run-id ue-v3-backfill      # resume after a stop or a crash',
    'reprocess replay job.yaml --run-id ue-v3-backfill --metrics-port 9474   # a second worker on this host',
    'reprocess replay job.yaml --threads 0                   # everything on one thread (a one-core container)',
  ],
  minPositionals: 1,
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const spec = await loadJobSpec(positionals[0] ?? '', specOverrides(values));
    const runId = runIdOption(values, () => newRunId(spec.dataset, spec.version));
    const log = logger();
    const { metrics, services, catalog, close } = await openObserved({ values, io, logger: log, defaultPort: DEFAULT_METRICS_PORTS.replay, datasets: [spec.dataset] });
    const display = new ProgressDisplay(io.stderr, io.isTTY && values.json !== true);
    try {
      const redis = await services.redis();
      io.stderr(`run ${runId}: ${spec.source.topic} → ${spec.sinkTopic}\n`);
      const summary = await runReplay({
        spec, runId, kafka: services.kafka, registry: services.registry, redis, logger: log, signal: io.signal, catalog, metrics: metrics.registry,
        onProgress: (s) => display.update(s),
        delivery: values['at-least-once'] === true ? 'at-least-once' : 'exactly-once',
        ...(typeof values.threads === 'string' ? { threads: threadsOption(values.threads, 'Example: --threads 2 (the default on more than two cores), or 0 to process on the Kafka thread.') } : {}),
      });
      let promotion: { promoted: boolean } | null = null;
      if (summary.state === 'completed' && spec.promote === 'auto') {
        const done = await finishAutoPromotion({ spec, runId, services, catalog, logger: log, signal: io.signal, by: actor(undefined, io.env), reportDir: join(stackLayout(io.env).home, 'reports'), metrics: metrics.registry });
        promotion = done;
        io.stderr(done.lines.join('\n') + '\n');
      }
      if (values.json) {
        io.stdout(JSON.stringify({ ...summary, promoted: promotion?.promoted ?? false }, null, 2) + '\n');
      } else {
        const verb = summary.state === 'completed' ? 'completed' : 'stopped (resume with the same --run-id)';
        io.stdout(`\nrun ${runId} ${verb} in ${formatDuration(summary.durationMs / 1000)}: read ${formatCount(summary.read)}, wrote ${formatCount(summary.written)} to ${summary.sinkTopic}, ${formatCount(summary.dlq)} to ${summary.dlqTopic}${summary.filtered ? `, ${formatCount(summary.filtered)} filtered by the transform` : ''}.\n`);
      }
      return summary.state === 'completed' ? EXIT.OK : 130;
    } finally {
      await close();
    }
  },
};
