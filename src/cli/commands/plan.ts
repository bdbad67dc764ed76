import { loadJobSpec } from '../../core/index.js';
import { planReplay } from '../../replay/plan.js';
import { EXIT, table, type Command } from '../command.js';
import { formatBytes, formatCount, formatDuration } from '../progress.js';
import { openServices } from '../services.js';
import { WINDOW_OPTIONS, specOverrides } from './shared.js';

export const planCommand: Command = {
  name: 'plan',
  summary: 'Resolve a job\'s window to per-partition offset ranges and estimate the work (writes nothing).',
  usage: 'reprocess plan <job.yaml> [--from T] [--to T] [--json]',
  description: [
    'Reads the job spec, validates it fully, and resolves the window on the source topic: a',
    'timestamp becomes the first offset whose record timestamp is ≥ it, per partition. Prints the',
    'ranges [start, end) with record counts, estimated bytes (sampled from the source) and the',
    'duration at the job\'s rate. Reads metadata and a few records; creates and writes nothing.',
  ].join('\n'),
  options: {
    ...WINDOW_OPTIONS,
    json: { type: 'boolean', description: 'Print the plan as JSON, with partitions: [{partition, start, end, records}].' },
  },
  examples: [
    'reprocess plan examples/user_engagement/job.yaml',
    'reprocess plan job.yaml --from 2026-03-01T00:00:00Z --to 2026-03-02T00:00:00Z --json',
    'reprocess plan job.yaml --from \'{"0": 120, "1": 0}\' --to \'{"0": 500, "1": 300}\'',
  ],
  minPositionals: 1,
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const spec = await loadJobSpec(positionals[0] ?? '', specOverrides(values));
    const services = openServices(io.env, logger());
    try {
      const plan = await planReplay(spec, services.kafka, { sampleBytes: true });
      if (values.json) {
        io.stdout(JSON.stringify({
          dataset: spec.dataset,
          version: spec.version,
          source: plan.sourceTopic,
          sink: plan.sinkTopic,
          dlq: plan.dlqTopic,
          sinkExists: plan.sinkExists,
          sinkPartitions: plan.sinkPartitions,
          window: plan.window,
          partitions: plan.ranges.map((r) => ({ partition: r.partition, start: r.start, end: r.end, records: r.records })),
          records: plan.summary.records,
          avgRecordBytes: Math.round(plan.avgRecordBytes),
          avgRecordBytesSampled: plan.avgRecordBytesSampled,
          estimatedBytes: plan.summary.estimatedBytes,
          rate: spec.rate ? { records: spec.rate.recordsPerSec, bytes: spec.rate.bytesPerSec } : null,
          estimatedSeconds: plan.summary.estimatedSeconds,
        }, null, 2) + '\n');
        return EXIT.OK;
      }
      io.stdout(`Plan for ${spec.dataset} v${spec.version}: ${plan.sourceTopic} → ${plan.sinkTopic}${plan.sinkExists ? ' (exists)' : ` (will be created with ${plan.sinkPartitions} partitions)`}\n`);
      io.stdout(`Window [${plan.window.from}, ${plan.window.to})\n\n`);
      io.stdout(table(['PARTITION', 'START', 'END', 'RECORDS'], plan.ranges.map((r) => [String(r.partition), r.start, r.end, formatCount(r.records)])));
      const rate = spec.rate?.recordsPerSec ? `${formatCount(spec.rate.recordsPerSec)} records/s` : spec.rate?.bytesPerSec ? `${formatBytes(spec.rate.bytesPerSec)}/s` : null;
      io.stdout(`\n${formatCount(plan.summary.records)} records in ${plan.summary.activePartitions} of ${plan.summary.partitions} partitions, about ${formatBytes(plan.summary.estimatedBytes)} (${Math.round(plan.avgRecordBytes)} bytes/record${plan.avgRecordBytesSampled ? ', sampled' : ', assumed'}).\n`);
      io.stdout(rate ? `At ${rate}: about ${formatDuration(plan.summary.estimatedSeconds)}.\n` : 'No rate limit in the job: the replay runs as fast as the cluster allows (set rate.records or --rate).\n');
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};
