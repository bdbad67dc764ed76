import { ReprocessError } from '../../errors.js';
import { consumerGroupFor } from '../../replay/engine.js';
import { readRunRate } from '../../replay/redis-throttle.js';
import { RunStore } from '../../runs/store.js';
import { EXIT, table, type Command } from '../command.js';
import { formatCount } from '../progress.js';
import { openServices } from '../services.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show what a run is doing or did: state, partitions, workers, progress.',
  usage: 'reprocess status [<run-id>] [--json]',
  description: 'Without a run id, lists recent runs. Progress comes from the run\'s committed offsets in Kafka\n(the same transactions as the output), so it is exact even after a crash.',
  options: { json: { type: 'boolean', description: 'Print machine-readable JSON.' } },
  examples: ['reprocess status', 'reprocess status user_engagement-v3-20260301-101500-ab12 --json'],
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const services = openServices(io.env, logger());
    try {
      const store = new RunStore(await services.redis());
      const runId = positionals[0];
      if (runId === undefined) {
        const ids = await store.recent(20);
        const runs = (await Promise.all(ids.map((id) => store.get(id)))).filter((r) => r !== null);
        if (values.json) io.stdout(JSON.stringify({ runs }, null, 2) + '\n');
        else if (runs.length === 0) io.stdout('No runs yet. Start one with `reprocess replay <job.yaml>`.\n');
        else io.stdout(table(['RUN', 'STATE', 'SINK', 'STARTED', 'RECORDS'], runs.map((r) => [r.runId, r.state, r.sinkTopic, r.startedAt, formatCount(r.totalRecords)])));
        return EXIT.OK;
      }
      const run = await store.get(runId);
      if (!run) throw new ReprocessError('RUN_NOT_FOUND', `no run "${runId}" is known.`, { hint: 'List runs with `reprocess status`.' });
      const partitions = await store.partitions(runId);
      const workers = await store.workers(runId);
      // Committed offsets are the truth; Redis holds the counters and who works where.
      try {
        const committed = await (await services.kafka.admin()).committedOffsets(consumerGroupFor(runId), run.sourceTopic);
        for (const p of partitions) {
          const c = committed.find((x) => x.partition === p.partition)?.offset;
          if (c != null && BigInt(c) > BigInt(p.position)) p.position = BigInt(c) > BigInt(p.end) ? p.end : c;
          p.done = BigInt(p.position) >= BigInt(p.end);
        }
      } catch {
        // Kafka unreachable: show what Redis has.
      }
      const rate = await readRunRate(await services.redis(), runId);
      const total = partitions.reduce((s, p) => s + Number(BigInt(p.end) - BigInt(p.start)), 0);
      const doneN = partitions.reduce((s, p) => s + Number(BigInt(p.position) - BigInt(p.start)), 0);
      if (values.json) {
        const effective = rate?.recordsPerSec ? rate.recordsPerSec * rate.factor : null;
        io.stdout(JSON.stringify({ ...run, progress: { done: doneN, total }, rate: rate ? { ...rate, effectiveRecordsPerSec: effective } : null, partitions, workers }, null, 2) + '\n');
        return EXIT.OK;
      }
      io.stdout(`run ${run.runId}: ${run.state}${run.error ? ` — ${run.error}` : ''}\n`);
      io.stdout(`${run.sourceTopic} → ${run.sinkTopic} (DLQ ${run.dlqTopic}), started ${run.startedAt}${run.finishedAt ? `, finished ${run.finishedAt}` : ''}\n`);
      io.stdout(`progress ${formatCount(doneN)}/${formatCount(total)} records (${total ? ((doneN / total) * 100).toFixed(1) : '100.0'}%)\n`);
      const limit = rate?.recordsPerSec ? `${formatCount(rate.recordsPerSec * rate.factor)} records/s` : 'unlimited';
      const adaptive = rate && rate.productionLag !== null ? ` (adaptive: ${Math.round(rate.factor * 100)}% of ${formatCount(rate.recordsPerSec ?? 0)}/s, production lag ${formatCount(rate.productionLag)})` : '';
      io.stdout(`rate limit ${limit}${adaptive}\n\n`);
      io.stdout(table(['PARTITION', 'START', 'END', 'POSITION', 'READ', 'WRITTEN', 'DLQ', 'STATE'], partitions.map((p) => [String(p.partition), p.start, p.end, p.position, formatCount(p.read), formatCount(p.written), formatCount(p.dlq), p.done ? 'done' : 'pending'])));
      if (workers.length) {
        io.stdout('\n' + table(['WORKER', 'HOST', 'PID', 'PARTITIONS', 'LAST SEEN'], workers.map((w) => [w.workerId, w.host, String(w.pid), w.partitions.join(',') || '-', w.at])));
      }
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};
