import { Redis, type RedisOptions } from 'ioredis';
import { ReprocessError } from '../errors.js';
import { redactUrl, type RedisEndpoint } from '../config/endpoints.js';

/**
 * One Redis connection for a process. Commands fail fast while Redis is away instead of queueing
 * without bound, so callers can fall back (a local rate, a pause) rather than hang.
 */
export function connectRedis(endpoint: RedisEndpoint, options: RedisOptions = {}): Redis {
  const redis = new Redis(endpoint.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.tls ? { tls: {} } : {}),
    ...options,
  });
  // Errors surface on the commands that fail; the connection's own event would crash an idle process.
  redis.on('error', () => undefined);
  return redis;
}

/** Connects and PINGs, or explains which endpoint did not answer. */
export async function connectRedisChecked(endpoint: RedisEndpoint, options: RedisOptions = {}): Promise<Redis> {
  const redis = connectRedis(endpoint, options);
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (cause) {
    redis.disconnect();
    throw new ReprocessError('ENDPOINT_UNREACHABLE', `Cannot reach Redis at ${redactUrl(endpoint.url)} (set by REDIS_URL): ${cause instanceof Error ? cause.message : String(cause)}`, {
      retriable: true,
      hint: 'Start the embedded stack with `reprocess stack up`, or set REDIS_URL to your Redis.',
      context: { endpoint: redactUrl(endpoint.url), variable: 'REDIS_URL' },
      cause,
    });
  }
}
