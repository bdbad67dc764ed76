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
  // ioredis reports a refused AUTH on the connection's error event and rejects the command only
  // with "Connection is closed"; keep the first to say what really happened.
  let connectionError = '';
  const onError = (err: Error): void => {
    connectionError ||= err.message;
  };
  redis.on('error', onError);
  try {
    await redis.connect();
    await redis.ping();
    redis.off('error', onError);
    return redis;
  } catch (cause) {
    redis.disconnect();
    const text = `${cause instanceof Error ? cause.message : String(cause)}${connectionError ? ` (${connectionError})` : ''}`;
    if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text)) {
      throw new ReprocessError('CONFIG_INVALID', `Redis at ${redactUrl(endpoint.url)} refused the credentials (set by REDIS_URL / REDIS_PASSWORD): ${text.replace(/\s+/g, ' ')}`, {
        hint: 'Check the password in REDIS_URL (redis://:password@host:port) or REDIS_PASSWORD.',
        context: { endpoint: redactUrl(endpoint.url), variable: 'REDIS_URL' },
        cause,
      });
    }
    throw new ReprocessError('ENDPOINT_UNREACHABLE', `Cannot reach Redis at ${redactUrl(endpoint.url)} (set by REDIS_URL): ${text}`, {
      retriable: true,
      hint: 'Start the embedded stack with `reprocess stack up`, or set REDIS_URL to your Redis.',
      context: { endpoint: redactUrl(endpoint.url), variable: 'REDIS_URL' },
      cause,
    });
  }
}
