import { readFileSync } from 'node:fs';
import { ReprocessError } from '../errors.js';

/**
 * Where the services are, read once from the environment. Defaults are the embedded stack
 * (`reprocess stack up`). Credentials live only in this object; use `describeEndpoints` or
 * `redactUrl` for anything that is printed or logged.
 */
export interface KafkaEndpoint {
  brokers: string[];
  clientId: string;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  ssl?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } | undefined;
}

export interface RegistryEndpoint {
  url: string;
  auth?: { username: string; password: string };
}

export interface RedisEndpoint {
  url: string;
  password?: string;
  tls: boolean;
}

export interface Endpoints {
  kafka: KafkaEndpoint;
  registry: RegistryEndpoint;
  redis: RedisEndpoint;
}

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:9092';
export const DEFAULT_SCHEMA_REGISTRY_URL = 'http://127.0.0.1:8081/apis/ccompat/v7';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

type Env = Record<string, string | undefined>;

/** True when KAFKA_BROKERS, SCHEMA_REGISTRY_URL and REDIS_URL are unset or name the embedded stack's endpoints. */
export function pointsAtEmbeddedStack(env: Env = process.env): boolean {
  return (env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS) === DEFAULT_KAFKA_BROKERS &&
    (env.SCHEMA_REGISTRY_URL ?? DEFAULT_SCHEMA_REGISTRY_URL) === DEFAULT_SCHEMA_REGISTRY_URL &&
    (env.REDIS_URL ?? DEFAULT_REDIS_URL) === DEFAULT_REDIS_URL;
}

function readFileVar(env: Env, name: string): string | undefined {
  const path = env[name];
  if (path === undefined || path === '') return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ReprocessError('CONFIG_INVALID', `${name} points at a file that cannot be read (${path}).`, {
      hint: `Set ${name} to a readable PEM file, or unset it.`,
      context: { variable: name },
      cause,
    });
  }
}

function flag(env: Env, name: string): boolean {
  const v = env[name]?.toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

export function loadEndpoints(env: Env = process.env): Endpoints {
  const brokers = (env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (brokers.length === 0 || brokers.some((b) => !/^[^:\s]+:\d+$/.test(b))) {
    throw new ReprocessError('CONFIG_INVALID', `KAFKA_BROKERS must be a comma-separated list of host:port, got "${env.KAFKA_BROKERS ?? ''}".`, {
      hint: 'Example: KAFKA_BROKERS=broker-1:9092,broker-2:9092',
      context: { variable: 'KAFKA_BROKERS' },
    });
  }
  const kafka: KafkaEndpoint = { brokers, clientId: env.KAFKA_CLIENT_ID ?? 'kafka-reprocessor' };

  const mechanism = env.KAFKA_SASL_MECHANISM?.toLowerCase();
  if (mechanism !== undefined && mechanism !== '') {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      throw new ReprocessError('CONFIG_INVALID', `KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got "${env.KAFKA_SASL_MECHANISM}".`, {
        context: { variable: 'KAFKA_SASL_MECHANISM' },
      });
    }
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    if (!username || password === undefined) {
      throw new ReprocessError('CONFIG_INVALID', 'KAFKA_SASL_MECHANISM is set but KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is missing.', {
        hint: 'Set both, or unset KAFKA_SASL_MECHANISM for an unauthenticated cluster.',
        context: { variable: 'KAFKA_SASL_USERNAME' },
      });
    }
    kafka.sasl = { mechanism, username, password };
  }
  if (flag(env, 'KAFKA_SSL') || env.KAFKA_SSL_CA_FILE) {
    const ssl: NonNullable<KafkaEndpoint['ssl']> = { rejectUnauthorized: env.KAFKA_SSL_REJECT_UNAUTHORIZED !== 'false' };
    const ca = readFileVar(env, 'KAFKA_SSL_CA_FILE');
    const cert = readFileVar(env, 'KAFKA_SSL_CERT_FILE');
    const key = readFileVar(env, 'KAFKA_SSL_KEY_FILE');
    if (ca !== undefined) ssl.ca = ca;
    if (cert !== undefined) ssl.cert = cert;
    if (key !== undefined) ssl.key = key;
    kafka.ssl = ssl;
  }

  const registryRaw = env.SCHEMA_REGISTRY_URL ?? DEFAULT_SCHEMA_REGISTRY_URL;
  let registryUrl: URL;
  try {
    registryUrl = new URL(registryRaw);
  } catch {
    throw new ReprocessError('CONFIG_INVALID', `SCHEMA_REGISTRY_URL is not a URL: "${redactUrl(registryRaw)}".`, {
      hint: 'Example: SCHEMA_REGISTRY_URL=https://registry.internal:8081',
      context: { variable: 'SCHEMA_REGISTRY_URL' },
    });
  }
  const registry: RegistryEndpoint = { url: '' };
  const regUser = env.SCHEMA_REGISTRY_USERNAME ?? (registryUrl.username ? decodeURIComponent(registryUrl.username) : undefined);
  const regPass = env.SCHEMA_REGISTRY_PASSWORD ?? (registryUrl.password ? decodeURIComponent(registryUrl.password) : undefined);
  registryUrl.username = '';
  registryUrl.password = '';
  registry.url = registryUrl.toString().replace(/\/+$/, '');
  if (regUser !== undefined) registry.auth = { username: regUser, password: regPass ?? '' };

  const redisRaw = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  let redisUrl: URL;
  try {
    redisUrl = new URL(redisRaw);
  } catch {
    throw new ReprocessError('CONFIG_INVALID', `REDIS_URL is not a URL: "${redactUrl(redisRaw)}".`, {
      hint: 'Example: REDIS_URL=redis://127.0.0.1:6379 or rediss://:password@cache.internal:6380',
      context: { variable: 'REDIS_URL' },
    });
  }
  if (redisUrl.protocol !== 'redis:' && redisUrl.protocol !== 'rediss:') {
    throw new ReprocessError('CONFIG_INVALID', `REDIS_URL must start with redis:// or rediss://, got "${redactUrl(redisRaw)}".`, {
      context: { variable: 'REDIS_URL' },
    });
  }
  const redis: RedisEndpoint = { url: redisRaw, tls: redisUrl.protocol === 'rediss:' || flag(env, 'REDIS_TLS') };
  if (env.REDIS_PASSWORD !== undefined && env.REDIS_PASSWORD !== '') redis.password = env.REDIS_PASSWORD;

  return { kafka, registry, redis };
}

/** A URL with any user:password removed, safe to print. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return raw.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** What each endpoint is, for logs and `status`, without credentials. */
export function describeEndpoints(e: Endpoints): Record<string, string> {
  return {
    kafka: e.kafka.brokers.join(',') + (e.kafka.sasl ? ` (SASL ${e.kafka.sasl.mechanism.toUpperCase()} as ${e.kafka.sasl.username})` : '') + (e.kafka.ssl ? ' (TLS)' : ''),
    registry: e.registry.url + (e.registry.auth ? ` (basic auth as ${e.registry.auth.username})` : ''),
    redis: redactUrl(e.redis.url) + (e.redis.tls ? ' (TLS)' : ''),
  };
}
