import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ReprocessError } from '../errors.js';
import type { Logger } from '../log.js';
import { ensureApicurio, ensureKafkaJars, javaMajor, requireCommand } from './artifacts.js';
import {
  EMBEDDED_SASL_PASSWORD,
  EMBEDDED_SASL_USER,
  HOST,
  KAFKA_VERSION,
  APICURIO_VERSION,
  stackLayout,
  type ServiceName,
  type StackLayout,
} from './layout.js';
import { httpOk, kafkaAnswers, portOpen, redisAnswers, sleep } from './probe.js';

const run = promisify(execFile);

export type ServiceState = 'up' | 'down' | 'starting';
/** embedded: started by `stack up` and stopped by `stack down`; external: something else answers there and is reused. */
export type Ownership = 'embedded' | 'external' | 'none';

export interface ServiceStatus {
  service: ServiceName;
  endpoint: string;
  state: ServiceState;
  ownership: Ownership;
  version?: string;
  pid?: number;
  log?: string;
}

export interface StackOptions {
  layout?: StackLayout;
  logger?: Logger;
  /** Bounded wait for health, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const SERVICES: ServiceName[] = ['kafka', 'registry', 'redis'];

/** The endpoint of each service, in the form the matching variable takes (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL). */
export function stackEndpoints(layout: StackLayout): Record<ServiceName, string> {
  return {
    kafka: `${HOST}:${layout.ports.kafka}`,
    registry: `http://${HOST}:${layout.ports.registry}/apis/ccompat/v7`,
    redis: `redis://${HOST}:${layout.ports.redis}`,
  };
}

function servicePorts(layout: StackLayout, service: ServiceName): number[] {
  const p = layout.ports;
  return service === 'kafka' ? [p.kafka, p.controller, p.sasl] : service === 'registry' ? [p.registry] : [p.redis];
}

function healthy(layout: StackLayout, service: ServiceName): Promise<boolean> {
  switch (service) {
    case 'kafka':
      return kafkaAnswers(HOST, layout.ports.kafka);
    case 'registry':
      return httpOk(`${stackEndpoints(layout).registry}/subjects`);
    case 'redis':
      return redisAnswers(HOST, layout.ports.redis);
  }
}

interface PidRecord {
  pid: number;
  startedAt: string;
}

function readPid(layout: StackLayout, service: ServiceName): PidRecord | undefined {
  const file = layout.pidFile(service);
  if (!existsSync(file)) return undefined;
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    return typeof rec.pid === 'number' ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and still the process we started (its command line names our state folder), not a reused pid. */
function ownedAlive(layout: StackLayout, rec: PidRecord | undefined): boolean {
  if (!rec) return false;
  try {
    process.kill(rec.pid, 0);
  } catch {
    return false;
  }
  // Each service runs with its working directory in our state folder; redis-server rewrites its
  // command line, so the working directory is the reliable mark.
  if (!existsSync(`/proc/${rec.pid}`)) return true; // no procfs (macOS): trust the pid file
  try {
    return readlinkSync(`/proc/${rec.pid}/cwd`).startsWith(layout.home);
  } catch {
    return false;
  }
}

export async function stackStatus(options: StackOptions = {}): Promise<ServiceStatus[]> {
  const layout = options.layout ?? stackLayout();
  return Promise.all(SERVICES.map((s) => serviceStatus(layout, s)));
}

async function serviceStatus(layout: StackLayout, service: ServiceName): Promise<ServiceStatus> {
  const rec = readPid(layout, service);
  const mine = ownedAlive(layout, rec);
  const ok = await healthy(layout, service);
  const status: ServiceStatus = {
    service,
    endpoint: stackEndpoints(layout)[service],
    state: ok ? 'up' : mine ? 'starting' : 'down',
    ownership: mine ? 'embedded' : ok ? 'external' : 'none',
  };
  if (service === 'kafka' && mine) status.version = KAFKA_VERSION;
  if (service === 'registry' && mine) status.version = `apicurio ${APICURIO_VERSION}`;
  if (mine && rec) status.pid = rec.pid;
  if (mine) status.log = service === 'kafka' ? layout.kafkaLog : service === 'registry' ? layout.registryLog : layout.redisLog;
  return status;
}

function kafkaProperties(layout: StackLayout): string {
  const { kafka: KAFKA_PORT, controller: KAFKA_CONTROLLER_PORT, sasl: KAFKA_SASL_PORT } = layout.ports;
  return `# Written by \`reprocess stack up\`: a single-node KRaft broker for local runs and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://${HOST}:${KAFKA_PORT},CONTROLLER://${HOST}:${KAFKA_CONTROLLER_PORT},SASL_PLAINTEXT://${HOST}:${KAFKA_SASL_PORT}
advertised.listeners=PLAINTEXT://${HOST}:${KAFKA_PORT},SASL_PLAINTEXT://${HOST}:${KAFKA_SASL_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${EMBEDDED_SASL_USER}="${EMBEDDED_SASL_PASSWORD}";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=${layout.kafkaData}
num.partitions=1
# One broker: internal topics cannot have more than one replica, or transactions never become usable.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created on purpose only: a typo must not create a topic.
auto.create.topics.enable=false
log.retention.hours=-1
log.segment.bytes=268435456
`;
}

const LOG4J2 = `# Broker log for \`reprocess stack\`: INFO to stdout, which is redirected to server.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
`;

function spawnDetached(cmd: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

function writePid(layout: StackLayout, service: ServiceName, pid: number | undefined): void {
  if (pid === undefined) throw new ReprocessError('STACK_START_FAILED', `Could not start ${service}.`);
  writeFileSync(layout.pidFile(service), JSON.stringify({ pid, startedAt: new Date().toISOString() }));
}

async function startKafka(layout: StackLayout, logger: Logger | undefined): Promise<ChildProcess> {
  const libs = await ensureKafkaJars(layout);
  mkdirSync(layout.kafkaDir, { recursive: true });
  writeFileSync(layout.kafkaConfig, kafkaProperties(layout));
  writeFileSync(layout.kafkaLog4j, LOG4J2);
  const cp = `${libs}/*`;
  const jvm = ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', `-Dlog4j2.configurationFile=${layout.kafkaLog4j}`, `-Dkafka.logs.dir=${layout.kafkaDir}`];
  if (!existsSync(`${layout.kafkaData}/meta.properties`)) {
    logger?.info({ dir: layout.kafkaData }, 'formatting the embedded broker storage');
    try {
      const { stdout } = await run('java', [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], { timeout: 120_000 });
      const clusterId = stdout.trim().split('\n').pop() ?? '';
      await run('java', [
        ...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', layout.kafkaConfig,
        '--add-scram', `SCRAM-SHA-256=[name="${EMBEDDED_SASL_USER}",password="${EMBEDDED_SASL_PASSWORD}"]`,
        '--add-scram', `SCRAM-SHA-512=[name="${EMBEDDED_SASL_USER}",password="${EMBEDDED_SASL_PASSWORD}"]`,
      ], { timeout: 120_000 });
    } catch (cause) {
      rmSync(layout.kafkaData, { recursive: true, force: true });
      throw new ReprocessError('STACK_START_FAILED', 'Formatting the embedded broker storage failed.', {
        hint: `See ${layout.kafkaLog} and check that Java 17+ is the default java.`,
        cause,
      });
    }
  }
  logger?.info({ version: KAFKA_VERSION, endpoint: stackEndpoints(layout).kafka }, 'starting Kafka');
  const child = spawnDetached('java', [...jvm, '-cp', cp, 'kafka.Kafka', layout.kafkaConfig], layout.kafkaLog, layout.kafkaDir);
  writePid(layout, 'kafka', child.pid);
  return child;
}

async function startRegistry(layout: StackLayout, logger: Logger | undefined): Promise<ChildProcess> {
  const jar = await ensureApicurio(layout);
  mkdirSync(layout.registryDir, { recursive: true });
  logger?.info({ version: APICURIO_VERSION, endpoint: stackEndpoints(layout).registry }, 'starting Apicurio Registry');
  const child = spawnDetached('java', [
    '-Xms128m', '-Xmx512m',
    `-Dquarkus.http.host=${HOST}`,
    `-Dquarkus.http.port=${layout.ports.registry}`,
    // A file database, so schema ids stay valid for records already in Kafka after a restart.
    `-Dapicurio.datasource.url=jdbc:h2:file:${layout.registryDb}`,
    '-jar', jar,
  ], layout.registryLog, layout.registryDir);
  writePid(layout, 'registry', child.pid);
  return child;
}

async function startRedis(layout: StackLayout, logger: Logger | undefined): Promise<ChildProcess> {
  await requireCommand('redis-server', `because no Redis answers on ${HOST}:${layout.ports.redis}`, 'Install Redis (Debian: apt-get install redis-server), start one on 127.0.0.1:6379, or set REDIS_URL.');
  mkdirSync(layout.redisDir, { recursive: true });
  logger?.info({ endpoint: stackEndpoints(layout).redis }, 'starting redis-server');
  const child = spawnDetached('redis-server', [
    '--bind', HOST, '--port', String(layout.ports.redis), '--save', '', '--appendonly', 'no', '--dir', layout.redisDir,
  ], layout.redisLog, layout.redisDir);
  writePid(layout, 'redis', child.pid);
  return child;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts whatever of Kafka, the registry and Redis is not already answering, then waits (bounded)
 * until all three are healthy. Safe to call again: healthy services are left alone.
 */
export async function stackUp(options: StackOptions = {}): Promise<ServiceStatus[]> {
  const layout = options.layout ?? stackLayout();
  const logger = options.logger;
  const timeoutMs = options.timeoutMs ?? 240_000;
  mkdirSync(layout.cache, { recursive: true });
  mkdirSync(`${layout.home}/stack`, { recursive: true });

  const before = await stackStatus({ layout });
  const toStart: ServiceName[] = [];
  for (const s of before) {
    if (s.state !== 'down') continue;
    for (const port of servicePorts(layout, s.service)) {
      if (await portOpen(HOST, port)) {
        throw new ReprocessError('PORT_TAKEN', `Port ${port} on ${HOST} is taken by something that is not a healthy ${s.service}; the embedded ${s.service} needs it.`, {
          hint: `Stop what listens there (\`ss -ltnp 'sport = :${port}'\` shows it), or point the matching variable at your own ${s.service} instead of the embedded stack.`,
          context: { endpoint: `${HOST}:${port}` },
        });
      }
    }
    toStart.push(s.service);
  }
  if (toStart.includes('kafka') || toStart.includes('registry')) {
    const major = await javaMajor();
    if (major < 17) {
      throw new ReprocessError('PREREQUISITE_MISSING', `java is version ${major}; the embedded Kafka and schema registry need Java 17 or newer.`, {
        hint: 'Install a JDK 17+ and make it the default java (or set PATH so it comes first).',
      });
    }
  }

  const children = new Map<ServiceName, ChildProcess>();
  // The two downloads and JVM starts overlap; each start is independent.
  await Promise.all(toStart.map(async (service) => {
    const child = service === 'kafka' ? await startKafka(layout, logger) : service === 'registry' ? await startRegistry(layout, logger) : await startRedis(layout, logger);
    children.set(service, child);
  }));

  const exited = new Map<ServiceName, number | null>();
  for (const [service, child] of children) child.once('exit', (code) => exited.set(service, code));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await stackStatus({ layout });
    if (status.every((s) => s.state === 'up')) return status;
    for (const [service, code] of exited) {
      const log = service === 'kafka' ? layout.kafkaLog : service === 'registry' ? layout.registryLog : layout.redisLog;
      throw new ReprocessError('STACK_START_FAILED', `${service} exited (code ${String(code)}) while starting. Last lines of ${log}:\n${tail(log)}`, {
        hint: `Fix what the log says, then run \`reprocess stack up\` again.`,
      });
    }
    if (options.signal?.aborted) throw new ReprocessError('ABORTED', 'Interrupted while waiting for the stack to start; what was started keeps running (`reprocess stack down` stops it).');
    if (Date.now() > deadline) {
      const waiting = status.filter((s) => s.state !== 'up').map((s) => s.service).join(', ');
      throw new ReprocessError('STACK_TIMEOUT', `Timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${waiting} to become healthy.`, {
        hint: `Look at the logs under ${layout.home}/stack, or give it longer with --timeout.`,
      });
    }
    await sleep(500, options.signal);
  }
}

/** Stops only what `stack up` started (SIGTERM, then SIGKILL after a grace period). Data is kept unless `purge`. */
export async function stackDown(options: StackOptions & { purge?: boolean } = {}): Promise<ServiceStatus[]> {
  const layout = options.layout ?? stackLayout();
  const graceMs = 30_000;
  // Registry first: it may hold connections to the broker; Kafka last gets a controlled shutdown.
  for (const service of ['registry', 'redis', 'kafka'] as ServiceName[]) {
    const rec = readPid(layout, service);
    if (rec && ownedAlive(layout, rec)) {
      options.logger?.info({ service, pid: rec.pid }, 'stopping');
      try {
        process.kill(rec.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const deadline = Date.now() + graceMs;
      while (ownedAlive(layout, rec) && Date.now() < deadline) await sleep(200);
      if (ownedAlive(layout, rec)) {
        try {
          process.kill(rec.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await sleep(200);
      }
    }
    rmSync(layout.pidFile(service), { force: true });
  }
  if (options.purge) {
    rmSync(layout.kafkaDir, { recursive: true, force: true });
    rmSync(layout.registryDir, { recursive: true, force: true });
    rmSync(layout.redisDir, { recursive: true, force: true });
  }
  return stackStatus({ layout });
}
