import avsc from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeWireHeader } from '../../src/core/wire.js';
import { partitionForKey } from '../../src/core/partitioner.js';
import { UNKNOWN_SCHEMA_ID, generateEvents, produceEvents, type GeneratedEvent } from '../../src/demo/index.js';
import { RegistryClient, isSchemaNotFound } from '../../src/registry/index.js';
import { readAll } from '../support/consume.js';
import { testEndpoints, testKafka, unique } from '../support/env.js';

describe('produceEvents writes the demo history to a real broker and registry', () => {
  const kafka = testKafka();
  const endpoints = testEndpoints();
  const registry = new RegistryClient({ endpoint: endpoints.registry });
  // produceEvents creates its topic and subject itself; delete them after the file's tests
  // (subjects soft then hard, as Confluent's registry requires; Apicurio deletes at once).
  const topics: string[] = [];
  afterAll(async () => {
    if (topics.length) await (await kafka.client.admin()).deleteTopics(topics).catch(() => undefined);
    const auth = endpoints.registry.auth;
    const headers: Record<string, string> = auth ? { Authorization: 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } : {};
    for (const topic of topics) {
      for (const query of ['', '?permanent=true']) {
        const url = `${endpoints.registry.url}/subjects/${encodeURIComponent(`${topic}-value`)}${query}`;
        await fetch(url, { method: 'DELETE', headers, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      }
    }
  });

  it('produces ~2000 events with poison: counts, partitions by key, timestamps and decodable values', async () => {
    const topic = unique('demo-events');
    topics.push(topic);
    // 4 days × 500 around the cutover: two days of v1, two of v2; every 50th record poisoned.
    const options = { start: Date.UTC(2023, 4, 30), days: 4, perDay: 500, cutover: Date.UTC(2023, 5, 1), poisonEvery: 50, seed: 11 };
    const generated: GeneratedEvent[] = [...generateEvents(options)];
    const progress: number[] = [];

    const result = await produceEvents({
      client: kafka.client,
      registry,
      ...(endpoints.registry.auth ? { registryAuth: endpoints.registry.auth } : {}),
      topic,
      partitions: 3,
      events: generated,
      onProgress: (n) => progress.push(n),
    });

    expect(result.produced).toBe(2000);
    expect(result.byVersion).toEqual({ 1: 1000, 2: 1000 });
    expect(result.poison).toBe(40);
    expect(result.poisonByKind).toEqual({ 'bad-magic': 10, truncated: 10, 'unknown-schema-id': 10, 'bad-fx': 10 });
    expect(result.partitions).toBe(3);
    expect(progress).toEqual([500, 1000, 1500, 2000]);
    expect(result.schemaIds[1]).not.toBe(result.schemaIds[2]);

    const read = await readAll(kafka.client, topic);
    const records = [...read.entries()].flatMap(([partition, list]) => list.map((r) => ({ partition, r })));
    expect(records).toHaveLength(2000);

    // Every user's records are on the partition the Java partitioner picks for its key, in generation order.
    const byEventKey = new Map<string, GeneratedEvent>();
    for (const g of generated) byEventKey.set(`${g.key}@${String(g.timestamp)}@${String(g.event.event_id)}`, g);
    for (const [partition, list] of read) {
      for (const r of list) {
        const key = r.key?.toString('utf8') ?? '';
        expect(partitionForKey(Buffer.from(key, 'utf8'), 3)).toBe(partition);
      }
      const expectedOrder = generated.filter((g) => partitionForKey(Buffer.from(g.key, 'utf8'), 3) === partition).map((g) => `${g.key}@${String(g.timestamp)}`);
      expect(list.map((r) => `${r.key?.toString('utf8') ?? ''}@${r.timestamp}`)).toEqual(expectedOrder);
    }

    // Valid values decode with the schema the registry holds for their id (a fresh client: no
    // schema cached from the registration); poison is spoiled as documented.
    const reader = new RegistryClient({ endpoint: endpoints.registry });
    const types = new Map<number, avsc.Type>();
    const typeFor = async (id: number): Promise<avsc.Type> => {
      let t = types.get(id);
      if (!t) {
        t = avsc.Type.forSchema(JSON.parse((await reader.getSchema(id)).schema) as avsc.Schema);
        types.set(id, t);
      }
      return t;
    };
    const kinds = { decoded: 0, badMagic: 0, truncated: 0, unknownId: 0, badFx: 0 };
    for (const { r } of records) {
      const value = r.value ?? Buffer.alloc(0);
      if (value.readUInt8(0) === 0x7b) {
        kinds.badMagic++; // '{': the event as JSON text
        continue;
      }
      if (value.length < 5) {
        expect(value).toHaveLength(3);
        kinds.truncated++;
        continue;
      }
      const { schemaId, body } = decodeWireHeader(value);
      if (schemaId === UNKNOWN_SCHEMA_ID) {
        kinds.unknownId++;
        continue;
      }
      expect([result.schemaIds[1], result.schemaIds[2]]).toContain(schemaId);
      const event = (await typeFor(schemaId)).fromBuffer(body) as Record<string, unknown>;
      kinds.decoded++;
      if (event.currency === 'XXX') kinds.badFx++;
      expect(String(event.event_time)).toBe(r.timestamp);
      expect(event.schema_version).toBe(schemaId === result.schemaIds[1] ? 1 : 2);
      expect(r.key?.toString('utf8')).toBe(String(event.user_id));
      const g = byEventKey.get(`${String(event.user_id)}@${r.timestamp}@${String(event.event_id)}`);
      expect(g?.event).toEqual(event);
    }
    expect(kinds).toEqual({ decoded: 1970, badMagic: 10, truncated: 10, unknownId: 10, badFx: 10 });
    // The unknown id really is unknown to the registry.
    expect(isSchemaNotFound(await reader.getSchema(UNKNOWN_SCHEMA_ID).catch((e: unknown) => e))).toBe(true);
  });

  it('is idempotent about the topic and schemas: a second run appends with the same schema ids', async () => {
    const topic = unique('demo-events-again');
    topics.push(topic);
    const events = (): Iterable<GeneratedEvent> => generateEvents({ start: Date.UTC(2023, 4, 31), days: 2, perDay: 100, cutover: Date.UTC(2023, 5, 1) });
    const base = { client: kafka.client, registry, topic, partitions: 2, ...(endpoints.registry.auth ? { registryAuth: endpoints.registry.auth } : {}) };
    const first = await produceEvents({ ...base, events: events() });
    const second = await produceEvents({ ...base, partitions: 5, events: events(), batchSize: 64 });
    expect(second.schemaIds).toEqual(first.schemaIds);
    expect(second.partitions).toBe(2); // an existing topic keeps its partition count
    const marks = await (await kafka.client.admin()).watermarks(topic);
    expect(marks.reduce((s, m) => s + Number(BigInt(m.high) - BigInt(m.low)), 0)).toBe(400);
  });

  it('stops between batches when aborted', async () => {
    const topic = unique('demo-events-abort');
    topics.push(topic);
    const controller = new AbortController();
    const err = await produceEvents({
      client: kafka.client,
      registry,
      ...(endpoints.registry.auth ? { registryAuth: endpoints.registry.auth } : {}),
      topic,
      events: generateEvents({ start: Date.UTC(2023, 5, 1), days: 1, perDay: 1000, cutover: 0 }),
      batchSize: 100,
      signal: controller.signal,
      onProgress: (n) => {
        if (n >= 300) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ABORTED' });
    const marks = await (await kafka.client.admin()).watermarks(topic);
    expect(marks.reduce((s, m) => s + Number(BigInt(m.high) - BigInt(m.low)), 0)).toBe(300);
  });
});
