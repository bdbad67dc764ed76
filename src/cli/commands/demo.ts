import { join } from 'node:path';
import { pointsAtEmbeddedStack } from '../../config/endpoints.js';
import { loadJobSpec } from '../../core/index.js';
import { DEMO_HISTORY, DEMO_SOURCE_TOPIC, exampleDir, generateEvents, produceEvents } from '../../demo/index.js';
import { ReprocessError } from '../../errors.js';
import { emptyDataset, promote, rollback } from '../../catalog/index.js';
import { resetComparison } from '../../compare/aggregator.js';
import { renderTable } from '../../compare/core/index.js';
import { compareVersions } from '../../compare/run.js';
import { consumerGroupFor, runReplay } from '../../replay/engine.js';
import { planReplay } from '../../replay/plan.js';
import { keys } from '../../redis/keys.js';
import { stackLayout, stackUp } from '../../stack/index.js';
import { EXIT, table, type Command } from '../command.js';
import { ProgressDisplay, formatCount, formatDuration } from '../progress.js';
import { autoPromote } from './shared.js';
import { metricsOptions, openObserved } from '../metrics.js';
import { DEFAULT_METRICS_PORTS } from '../../metrics/server.js';

const PER_DAY = 2_000;
const POISON_EVERY = 200;
const RUN_V2 = 'demo-user_engagement-v2';
const RUN_V3 = 'demo-user_engagement-v3';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The whole workflow on the embedded stack, narrated: history, live v2, replay into v3, compare, promote, roll back.',
  usage: 'reprocess demo [--force]',
  description: [
    'Starts the embedded stack if it is not running, writes ~90 days of raw `events` (schema v1 with',
    'integer user ids before a cutover, v2 with UUIDs after, a few malformed records), builds the live',
    'user_engagement_v2 with the old transform, then plans and replays the window into',
    'user_engagement_v3 with the fixed one (examples/user_engagement) while the comparison runs beside',
    'it, shows the report and the gate, promotes v3, rolls back and promotes again. Safe to run again: the demo\'s',
    'dataset topics are rebuilt from scratch and `events` is reused.',
    'It refuses to run against endpoints other than the embedded stack unless --force is given,',
    'because it deletes and rewrites the topics user_engagement_v2 and user_engagement_v3.',
  ].join('\n'),
  options: {
    force: { type: 'boolean', description: 'Run against the endpoints in KAFKA_BROKERS etc. even though they are not the embedded stack.' },
    ...metricsOptions(DEFAULT_METRICS_PORTS.replay),
  },
  examples: ['reprocess demo'],
  maxPositionals: 0,
  async run({ values, io, logger }) {
    const say = (text: string): void => io.stdout(`${text}\n`);
    const custom = !pointsAtEmbeddedStack(io.env);
    if (custom && values.force !== true) {
      throw new ReprocessError('USAGE', 'the demo deletes and rewrites the topics user_engagement_v2 and user_engagement_v3, and KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL point away from the embedded stack.', {
        hint: 'Unset them to use the embedded stack, or pass --force if that cluster is a scratch one.',
      });
    }
    const log = logger();
    if (!custom) {
      say('1. Starting the embedded stack (Kafka, schema registry, Redis)…');
      await stackUp({ logger: log, signal: io.signal });
    }
    const { metrics, services, catalog, close } = await openObserved({ values, io, logger: log, defaultPort: DEFAULT_METRICS_PORTS.replay, datasets: ['user_engagement'] });
    try {
      if (metrics.server) say(`   Metrics of the replay and the comparison: ${metrics.server.url} (Prometheus format; the dashboards in grafana/ chart them).`);
      const admin = await services.kafka.admin();
      const redis = await services.redis();
      const dir = exampleDir();

      // Start clean: the demo's dataset versions and runs go; `events` stays if it is complete.
      const expected = DEMO_HISTORY.days * PER_DAY;
      const topics = new Set(await admin.listTopics());
      const stale = ['user_engagement_v2', 'user_engagement_v2.dlq', 'user_engagement_v3', 'user_engagement_v3.dlq'].filter((t) => topics.has(t));
      if (stale.length) await admin.deleteTopics(stale);
      await admin.deleteGroups([consumerGroupFor(RUN_V2), consumerGroupFor(RUN_V3)]).catch(() => undefined);
      await redis.del(
        keys.sinkOwner('user_engagement_v2'), keys.sinkOwner('user_engagement_v3'),
        ...[RUN_V2, RUN_V3].flatMap((r) => [keys.run(r), keys.runPartitions(r), keys.runWorkers(r), keys.bucket(r)]),
      );
      // The demo's dataset starts over in the catalog too (its history included).
      await catalog.updateRetrying('user_engagement', (r) => (r.revision === 0 ? null : { ...emptyDataset('user_engagement'), revision: r.revision }));
      let have = 0;
      if (topics.has(DEMO_SOURCE_TOPIC)) {
        have = (await admin.watermarks(DEMO_SOURCE_TOPIC)).reduce((s, m) => s + Number(BigInt(m.high) - BigInt(m.low)), 0);
        if (have !== expected) {
          await admin.deleteTopics([DEMO_SOURCE_TOPIC]);
          have = 0;
        }
      }
      if (have === expected) {
        say(`2. Reusing the raw \`${DEMO_SOURCE_TOPIC}\` topic (${formatCount(have)} events from a previous demo).`);
      } else {
        say(`2. Writing ${DEMO_HISTORY.days} days of raw history to \`${DEMO_SOURCE_TOPIC}\`: schema v1 (integer user_id) before ${new Date(DEMO_HISTORY.cutover).toISOString().slice(0, 10)}, v2 (UUID) after, skewed across countries, categories and segments, with a few malformed records…`);
        const produced = await produceEvents({
          client: services.kafka, registry: services.registry, topic: DEMO_SOURCE_TOPIC, signal: io.signal,
          events: generateEvents({ start: DEMO_HISTORY.start, days: DEMO_HISTORY.days, perDay: PER_DAY, cutover: DEMO_HISTORY.cutover, poisonEvery: POISON_EVERY }),
        });
        say(`   ${formatCount(produced.produced)} events: ${formatCount(produced.byVersion[1] ?? 0)} of v1, ${formatCount(produced.byVersion[2] ?? 0)} of v2, ${produced.poison} malformed on purpose.`);
      }

      say('3. Building the live user_engagement_v2 with the current transform (it converts BRL revenue with a stale monthly FX rate: a real bug)…');
      const v2 = await loadJobSpec(join(dir, 'job-v2.yaml'));
      const r2 = await runReplay({ spec: v2, runId: RUN_V2, kafka: services.kafka, registry: services.registry, redis, logger: log, signal: io.signal, catalog, metrics: metrics.registry });
      if (r2.state !== 'completed') return 130;
      say(`   wrote ${formatCount(r2.written)} records to user_engagement_v2 in ${formatDuration(r2.durationMs / 1000)}; ${r2.dlq} records that cannot be processed went to user_engagement_v2.dlq.`);
      say(`   ${(await autoPromote(catalog, v2, 'reprocess demo')).message}`);

      say('4. Planning the v3 backfill (window resolved to offsets per partition; nothing is written):');
      const v3 = await loadJobSpec(join(dir, 'job.yaml'));
      const plan = await planReplay(v3, services.kafka, { sampleBytes: true });
      io.stdout(table(['PARTITION', 'START', 'END', 'RECORDS'], plan.ranges.map((r) => [String(r.partition), r.start, r.end, formatCount(r.records)])).trimEnd().replace(/^(?=.)/gm, '   ') + '\n');
      say(`   ${formatCount(plan.summary.records)} records, ~${formatCount(plan.summary.estimatedBytes / 1024)} KiB; at ${formatCount(v3.rate?.recordsPerSec ?? 0)} records/s about ${formatDuration(plan.summary.estimatedSeconds)}.`);

      say('5. Replaying into user_engagement_v3 with the fixed transform, exactly once, throttled by the shared Redis token bucket,');
      say('   while the comparison with v2 runs beside it as a sidecar:');
      const display = new ProgressDisplay(io.stderr, io.isTTY, 2_000);
      const reportPath = join(stackLayout(io.env).home, 'reports', `${RUN_V3}-compare.json`);
      await resetComparison(redis, `${RUN_V3}-compare`);
      const [r3, compared] = await Promise.all([
        runReplay({ spec: v3, runId: RUN_V3, kafka: services.kafka, registry: services.registry, redis, logger: log, signal: io.signal, catalog, metrics: metrics.registry, onProgress: (s) => display.update(s) }),
        compareVersions({ spec: v3, compareId: `${RUN_V3}-compare`, kafka: services.kafka, registry: services.registry, redis, catalog, logger: log, signal: io.signal, follow: true, reportPath, metrics: metrics.registry }),
      ]);
      if (r3.state !== 'completed') return 130;
      say(`   wrote ${formatCount(r3.written)} records to user_engagement_v3 in ${formatDuration(r3.durationMs / 1000)}; ${r3.dlq} to user_engagement_v3.dlq, each with headers saying where it came from and why.`);

      say('6. The comparison of v3 with the live v2 (counts, keys, null rates, revenue per country, category and segment):');
      io.stdout(renderTable(compared.report).trimEnd().replace(/^(?=.)/gm, '   ') + '\n');
      say('   Brazil\'s revenue differs by more than the 0.5% tolerance: that is the bug fix, documented in');
      say('   expected-differences.yaml, so the gate counts it as explained.');
      say(`   ${(await autoPromote(catalog, v3, 'reprocess demo')).message}`);

      say('7. Rolling back (one atomic catalog write), then promoting v3 again:');
      const back = await catalog.update('user_engagement', (r) => rollback(r, { by: 'reprocess demo', reason: 'demo: show a rollback' }));
      say(`   rollback: live is v${String(back.live)} again; readers resolving user_engagement get user_engagement_v${String(back.live)}.`);
      const again = await catalog.update('user_engagement', (r) => promote(r, 3, { by: 'reprocess demo', reason: 'demo: re-promote' }));
      say(`   promote: live is v${String(again.live)}; the history records who, when, which run and report:`);
      const hist = (await catalog.get('user_engagement'))?.history ?? [];
      io.stdout(table(['WHEN', 'ACTION', 'FROM', 'TO', 'BY', 'RUN'], hist.map((h) => [h.at, h.action, h.from === null ? '-' : `v${h.from}`, `v${h.to}`, h.by, h.run ?? '-'])).trimEnd().replace(/^(?=.)/gm, '   ') + '\n');

      say('');
      say('Where to look next:');
      say(`  ${compared.htmlPath ?? ''}   the comparison report (open it in a browser)`);
      say('  reprocess datasets user_engagement          versions, live pointer, history');
      say(`  reprocess status ${RUN_V3}                 partitions, workers, rate`);
      say('  kcat -b 127.0.0.1:9092 -C -t user_engagement_v3.dlq -e -f \'%h\\n\'   why records were rejected');
      say(`  ${join(dir, 'README.md')}   the example job, to copy for your own`);
      say(`  ${metrics.server?.url ?? 'http://127.0.0.1:9464/metrics'}   Prometheus metrics, served while a replay runs (compare: :9465)`);
      say('  docker compose up -d prometheus grafana   Prometheus :9090 and Grafana :3000 with the "replay" and "validation"');
      say('                                            dashboards (grafana/dashboards), scraping reprocess on this host');
      return EXIT.OK;
    } finally {
      await close();
    }
  },
};
