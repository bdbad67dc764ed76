import { describe, expect, it } from 'vitest';
import { mapKafkaError } from '../../src/kafka/kafkajs.js';
import { ReprocessError } from './helpers.js';

describe('Kafka client errors', () => {
  it('say which compression a batch used when kafkajs cannot decompress it, and what to do', () => {
    for (const codec of ['LZ4', 'Snappy', 'ZSTD']) {
      const kafkajs = Object.assign(new Error(`${codec} compression not implemented`), { name: 'KafkaJSNotImplemented' });
      const err = mapKafkaError(kafkajs, ['b1:9092']);
      expect(err).toBeInstanceOf(ReprocessError);
      expect(err).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining(`compressed with ${codec}`) as string, hint: expect.stringContaining('gzip') as string });
    }
    // Anything else kafkajs has not implemented is passed on as it is.
    const other = Object.assign(new Error('Something else not implemented'), { name: 'KafkaJSNotImplemented' });
    expect(mapKafkaError(other, ['b1:9092'])).toBe(other);
  });
});
