import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { loadEndpoints, type Endpoints } from '../../src/config/endpoints.js';
import { createKafkaClient, type KafkaClient } from '../../src/kafka/index.js';

/** The endpoints the global set-up chose (environment, containers or embedded stack). */
export function testEndpoints(): Endpoints {
  return loadEndpoints(process.env);
}

/** A name no other test or run uses: tests never share topics, groups or keys. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A Kafka client whose topics are deleted and connections closed after the file's tests. */
export function testKafka(): { client: KafkaClient; topic: (prefix: string, partitions?: number) => Promise<string> } {
  const client = createKafkaClient(testEndpoints());
  const topics: string[] = [];
  afterAll(async () => {
    if (topics.length) await (await client.admin()).deleteTopics(topics).catch(() => undefined);
    await client.close();
  });
  return {
    client,
    async topic(prefix, partitions = 1) {
      const name = unique(prefix);
      topics.push(name);
      await (await client.admin()).createTopic({ topic: name, partitions });
      return name;
    },
  };
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Deletes every topic of the given datasets (all versions and DLQs) and the jobs' folders. */
export async function cleanupDatasets(client: KafkaClient, jobs: { dataset: string; cleanup(): void }[]): Promise<void> {
  const admin = await client.admin();
  const names = jobs.map((j) => j.dataset);
  const topics = (await admin.listTopics()).filter((t) => names.some((n) => t.startsWith(n)));
  if (topics.length) await admin.deleteTopics(topics).catch(() => undefined);
  for (const j of jobs) j.cleanup();
}
