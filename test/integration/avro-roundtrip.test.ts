import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { decodeWireHeader, encodeWire } from '../../src/core/wire.js';
import { RegistryClient } from '../../src/registry/index.js';
import { readAll } from '../support/consume.js';
import { testEndpoints, testKafka, unique } from '../support/env.js';

const schema = {
  type: 'record',
  name: 'PageView',
  namespace: 'test.roundtrip',
  fields: [
    { name: 'user_id', type: 'string' },
    { name: 'revenue', type: ['null', 'double'], default: null },
    { name: 'ts', type: 'long' },
  ],
};

describe('Avro in Confluent wire format through the real broker and registry', () => {
  const kafka = testKafka();
  const endpoints = testEndpoints();

  it('registers a schema, encodes, produces, consumes and decodes', async () => {
    const topic = await kafka.topic('avro-roundtrip', 3);
    const registry = new RegistryClient({ endpoint: endpoints.registry });
    const id = await registry.register(`${topic}-value`, schema);
    // Registering the same schema again is idempotent.
    expect(await registry.register(`${topic}-value`, schema)).toBe(id);

    const type = avro.Type.forSchema(schema as avro.Schema);
    const events = Array.from({ length: 20 }, (_, i) => ({ user_id: `u-${i}`, revenue: i % 3 === 0 ? null : i * 1.5, ts: 1_700_000_000_000 + i }));
    const producer = await kafka.client.producer();
    await producer.send(topic, events.map((e) => ({ key: Buffer.from(e.user_id), value: encodeWire(id, type.toBuffer(e)) })));

    const read = await readAll(kafka.client, topic);
    const records = [...read.values()].flat();
    expect(records).toHaveLength(20);

    // Decoded by us, with the writer schema fetched from the registry by the id in the header...
    const ours = await Promise.all(records.map(async (r) => {
      const { schemaId, body } = decodeWireHeader(r.value);
      const writer = avro.Type.forSchema(JSON.parse((await registry.getSchema(schemaId)).schema) as avro.Schema);
      return writer.fromBuffer(body) as { user_id: string };
    }));
    // ...and by an independent Confluent-format client, so the bytes are what other tools expect.
    const independent = new SchemaRegistry({ host: endpoints.registry.url });
    const theirs = await Promise.all(records.map(async (r) => (await independent.decode(r.value ?? Buffer.alloc(0))) as { user_id: string }));
    const byUser = (a: { user_id: string }, b: { user_id: string }): number => a.user_id.localeCompare(b.user_id);
    const expected = [...events].sort(byUser);
    expect(ours.map((e) => ({ ...e })).sort(byUser)).toEqual(expected);
    expect(theirs.map((e) => ({ ...e })).sort(byUser)).toEqual(expected);
  });

  it('reports an unknown schema id as not found, not as a registry outage', async () => {
    const registry = new RegistryClient({ endpoint: endpoints.registry });
    const err = await registry.getSchema(987_654_321).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_ERROR' });
    expect((err as { retriable: boolean }).retriable).toBe(false);
  });

  it('reports an unreachable registry as retriable, naming the URL and the variable', async () => {
    const registry = new RegistryClient({ endpoint: { url: 'http://127.0.0.1:1/apis/ccompat/v7' }, retries: 1, timeoutMs: 500 });
    const err = await registry.subjects().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', retriable: true });
    expect((err as Error).message).toContain('http://127.0.0.1:1/apis/ccompat/v7');
    expect((err as Error).message).toContain('SCHEMA_REGISTRY_URL');
  });

  it('keeps subjects of different tests apart', async () => {
    const registry = new RegistryClient({ endpoint: endpoints.registry });
    const subject = `${unique('subject')}-value`;
    await registry.register(subject, schema);
    expect(await registry.subjects()).toContain(subject);
    expect((await registry.latest(subject))?.version).toBe(1);
  });
});
