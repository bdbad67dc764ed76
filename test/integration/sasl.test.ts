import { describe, expect, it } from 'vitest';
import { loadEndpoints } from '../../src/config/endpoints.js';
import { createKafkaClient } from '../../src/kafka/index.js';
import { REDACT_PATHS } from '../../src/log.js';
import { Writable } from 'node:stream';
import pino from 'pino';

/**
 * The embedded broker has a SASL_PLAINTEXT listener on 9094 (user reprocess / reprocess-secret,
 * PLAIN and SCRAM). Against other clusters set TEST_KAFKA_SASL_BROKERS, TEST_KAFKA_SASL_MECHANISMS,
 * TEST_KAFKA_SASL_USERNAME and TEST_KAFKA_SASL_PASSWORD.
 */
const brokers = process.env.TEST_KAFKA_SASL_BROKERS ?? '127.0.0.1:9094';
const mechanisms = (process.env.TEST_KAFKA_SASL_MECHANISMS ?? 'plain,scram-sha-256,scram-sha-512').split(',');
const username = process.env.TEST_KAFKA_SASL_USERNAME ?? 'reprocess';
const password = process.env.TEST_KAFKA_SASL_PASSWORD ?? 'reprocess-secret';

describe('Kafka over SASL', () => {
  for (const mechanism of mechanisms) {
    it(`connects with ${mechanism.toUpperCase()} configured from the environment`, async () => {
      const endpoints = loadEndpoints({ KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: mechanism.toUpperCase(), KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password });
      const client = createKafkaClient(endpoints);
      try {
        const admin = await client.admin();
        expect(Array.isArray(await admin.listTopics())).toBe(true);
      } finally {
        await client.close();
      }
    });
  }

  it('rejects a wrong password with a clear error that does not contain it, and logs never do', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    const logger = pino({ level: 'trace' }, sink);
    const wrong = 'definitely-wrong-Pa55';
    const endpoints = loadEndpoints({ KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: wrong });
    const client = createKafkaClient(endpoints, logger, { connectRetries: 0 });
    const err = await client.admin().catch((e: unknown) => e);
    await client.close();
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as Error).message).toContain('SASL');
    expect((err as Error).message).not.toContain(wrong);
    expect(lines.join('')).not.toContain(wrong);
    // And our redaction list hides credentials wherever they sit in a log object.
    const ours: string[] = [];
    const redacting = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, new Writable({ write(c: Buffer, _e, cb) { ours.push(c.toString()); cb(); } }));
    redacting.info({ endpoint: { sasl: { password: wrong } }, password: wrong, registry: { auth: { username, password: wrong } } }, 'connecting');
    expect(ours.join('')).not.toContain(wrong);
    expect(ours.join('')).toContain('[redacted]');
  });
});
