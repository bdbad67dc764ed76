export type * from './types.js';
export { createKafkaJsClient, kafkaErrorType, mapKafkaError, type KafkaJsClientOptions } from './kafkajs.js';
import type { Endpoints } from '../config/endpoints.js';
import type { Logger } from '../log.js';
import { createKafkaJsClient } from './kafkajs.js';
import type { KafkaClient } from './types.js';

/** The client implementation used by the engine; one place to switch when a second one exists. */
export function createKafkaClient(endpoints: Pick<Endpoints, 'kafka'>, logger?: Logger, options: { connectRetries?: number } = {}): KafkaClient {
  return createKafkaJsClient({ endpoint: endpoints.kafka, ...(logger ? { logger } : {}), ...options });
}
