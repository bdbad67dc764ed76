import { resolve, join } from 'node:path';

/** Pinned versions of the embedded stack. Kafka 4.x runs on Java 17; Apicurio 3.0.x is the newest line built for Java 17. */
export const KAFKA_VERSION = '4.1.1';
export const APICURIO_VERSION = '3.0.9';
/** log4j 2 binding for the slf4j 1.7 API that Kafka's jars use, so the broker writes a readable log. */
export const LOG4J_VERSION = '2.24.3';

export const KAFKA_PORT = 9092;
export const REGISTRY_PORT = 8081;
export const REDIS_PORT = 6379;
export const HOST = '127.0.0.1';

/** Ports of one stack. The controller listens on kafka+1 and the SASL listener on kafka+2. */
export interface StackPorts {
  kafka: number;
  controller: number;
  sasl: number;
  registry: number;
  redis: number;
}

/** Local development credentials of the embedded broker's SASL listener (never used against real clusters). */
export const EMBEDDED_SASL_USER = 'reprocess';
export const EMBEDDED_SASL_PASSWORD = 'reprocess-secret';

export interface StackLayout {
  /** Everything the stack writes lives under here (git-ignored). */
  home: string;
  ports: StackPorts;
  /** Downloads, kept across `down`/`up`. */
  cache: string;
  kafkaLibs: string;
  kafkaPom: string;
  apicurioDir: string;
  kafkaDir: string;
  kafkaData: string;
  kafkaConfig: string;
  kafkaLog4j: string;
  kafkaLog: string;
  registryDir: string;
  registryDb: string;
  registryLog: string;
  redisDir: string;
  redisLog: string;
  pidFile: (service: ServiceName) => string;
}

export type ServiceName = 'kafka' | 'registry' | 'redis';

function port(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65533) throw new Error(`${name} must be a TCP port number, got "${raw}"`);
  return n;
}

/**
 * REPROCESS_HOME, or `.reprocess` in the current directory. The ports are the documented defaults;
 * REPROCESS_STACK_KAFKA_PORT, _REGISTRY_PORT and _REDIS_PORT move them (to run a second stack beside the first).
 */
export function stackLayout(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): StackLayout {
  const home = resolve(cwd, env.REPROCESS_HOME ?? '.reprocess');
  const kafka = port(env, 'REPROCESS_STACK_KAFKA_PORT', KAFKA_PORT);
  const ports: StackPorts = {
    kafka,
    controller: kafka + 1,
    sasl: kafka + 2,
    registry: port(env, 'REPROCESS_STACK_REGISTRY_PORT', REGISTRY_PORT),
    redis: port(env, 'REPROCESS_STACK_REDIS_PORT', REDIS_PORT),
  };
  const cache = resolve(home, env.REPROCESS_CACHE ?? 'cache');
  const stack = join(home, 'stack');
  const kafkaDir = join(stack, 'kafka');
  const registryDir = join(stack, 'registry');
  const redisDir = join(stack, 'redis');
  return {
    home,
    ports,
    cache,
    kafkaLibs: join(cache, `kafka-${KAFKA_VERSION}`, 'libs'),
    kafkaPom: join(cache, `kafka-${KAFKA_VERSION}`, 'pom.xml'),
    apicurioDir: join(cache, `apicurio-registry-${APICURIO_VERSION}`),
    kafkaDir,
    kafkaData: join(kafkaDir, 'data'),
    kafkaConfig: join(kafkaDir, 'server.properties'),
    kafkaLog4j: join(kafkaDir, 'log4j2.properties'),
    kafkaLog: join(kafkaDir, 'server.log'),
    registryDir,
    registryDb: join(registryDir, 'db'),
    registryLog: join(registryDir, 'registry.log'),
    redisDir,
    redisLog: join(redisDir, 'redis.log'),
    pidFile: (service) => join(stack, `${service}.pid`),
  };
}
