import type { Redis } from 'ioredis';
import { loadEndpoints, type Endpoints } from '../config/endpoints.js';
import { createKafkaClient, type KafkaClient } from '../kafka/index.js';
import type { Logger } from '../log.js';
import { connectRedisChecked } from '../redis/index.js';
import { RegistryClient } from '../registry/index.js';

export interface Services {
  endpoints: Endpoints;
  kafka: KafkaClient;
  registry: RegistryClient;
  redis(): Promise<Redis>;
  close(): Promise<void>;
}

/** The clients a command needs, opened lazily from the environment and closed together. */
export function openServices(env: Record<string, string | undefined>, logger: Logger, options: { onRegistryRequest?: (operation: string, seconds: number, ok: boolean) => void } = {}): Services {
  const endpoints = loadEndpoints(env);
  const kafka = createKafkaClient(endpoints, logger, { connectRetries: 3 });
  // Few quick retries per call; long outages are waited out by the callers that can (the replay).
  const registry = new RegistryClient({ endpoint: endpoints.registry, retries: 3, ...(options.onRegistryRequest ? { onRequest: options.onRegistryRequest } : {}) });
  let redis: Promise<Redis> | undefined;
  return {
    endpoints,
    kafka,
    registry,
    redis: () => (redis ??= connectRedisChecked(endpoints.redis)),
    async close() {
      await kafka.close();
      if (redis) await redis.then((r) => r.quit()).catch(() => undefined);
    },
  };
}
