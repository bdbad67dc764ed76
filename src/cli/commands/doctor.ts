import { availableParallelism } from 'node:os';
import { describeEndpoints, loadEndpoints } from '../../config/endpoints.js';
import { errorMessage } from '../../errors.js';
import { createKafkaClient } from '../../kafka/index.js';
import { RegistryClient } from '../../registry/index.js';
import { connectRedisChecked } from '../../redis/index.js';
import { SINGLE_THREADED_GC, SINGLE_THREADED_GC_ENV } from '../../util/node-flags.js';
import { EXIT, table, type Command } from '../command.js';

interface Check {
  service: string;
  endpoint: string;
  ok: boolean;
  detail: string;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Check that Kafka, the schema registry and Redis answer (reads only, writes nothing).',
  usage: 'reprocess doctor [--json]',
  description: 'Uses the same endpoints as every other command: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL\n(unset: the embedded stack). Safe to run against production: it only reads metadata.\nAlso names the Node.js it runs on, the cores it may use, and how V8 collects garbage\n(on the calling threads where there are two cores or fewer: ' + SINGLE_THREADED_GC_ENV + ').',
  options: { json: { type: 'boolean', description: 'Print machine-readable JSON.' } },
  examples: ['reprocess doctor', 'KAFKA_BROKERS=broker-1:9092 reprocess doctor --json'],
  maxPositionals: 0,
  async run({ values, io, logger }) {
    const endpoints = loadEndpoints(io.env);
    const shown = describeEndpoints(endpoints);
    const checks: Check[] = [];

    const kafka = createKafkaClient(endpoints, logger(), { connectRetries: 1 });
    try {
      const admin = await kafka.admin();
      const topics = await admin.listTopics();
      checks.push({ service: 'kafka', endpoint: shown.kafka ?? '', ok: true, detail: `${topics.filter((t) => !t.startsWith('__')).length} topics` });
    } catch (err) {
      checks.push({ service: 'kafka', endpoint: shown.kafka ?? '', ok: false, detail: errorMessage(err) });
    } finally {
      await kafka.close();
    }

    try {
      const registry = new RegistryClient({ endpoint: endpoints.registry, retries: 1, timeoutMs: 3_000 });
      const subjects = await registry.subjects();
      checks.push({ service: 'registry', endpoint: shown.registry ?? '', ok: true, detail: `${subjects.length} subjects` });
    } catch (err) {
      checks.push({ service: 'registry', endpoint: shown.registry ?? '', ok: false, detail: errorMessage(err) });
    }

    try {
      const redis = await connectRedisChecked(endpoints.redis);
      const info = await redis.info('server');
      redis.disconnect();
      checks.push({ service: 'redis', endpoint: shown.redis ?? '', ok: true, detail: `redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}` });
    } catch (err) {
      checks.push({ service: 'redis', endpoint: shown.redis ?? '', ok: false, detail: errorMessage(err) });
    }

    const runtime = { node: process.version, cores: availableParallelism(), singleThreadedGc: process.execArgv.includes(SINGLE_THREADED_GC) };
    if (values.json) io.stdout(JSON.stringify({ ok: checks.every((c) => c.ok), checks, runtime }, null, 2) + '\n');
    else {
      io.stdout(table(['SERVICE', 'OK', 'ENDPOINT', 'DETAIL'], checks.map((c) => [c.service, c.ok ? 'yes' : 'NO', c.endpoint, c.detail])));
      const gc = runtime.singleThreadedGc ? `garbage collected on the threads that allocate (${SINGLE_THREADED_GC})` : 'garbage collected with V8\'s helper threads';
      io.stdout(`\nNode.js ${runtime.node}, ${runtime.cores} core${runtime.cores === 1 ? '' : 's'}, ${gc}\n`);
    }
    return checks.every((c) => c.ok) ? EXIT.OK : EXIT.ERROR;
  },
};
