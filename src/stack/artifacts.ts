import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { promisify } from 'node:util';
import { ReprocessError } from '../errors.js';
import { APICURIO_VERSION, KAFKA_VERSION, LOG4J_VERSION, type StackLayout } from './layout.js';

const run = promisify(execFile);

/** Resolves a command on PATH, or explains what to install. */
export async function requireCommand(cmd: string, why: string, install: string): Promise<void> {
  try {
    await run(cmd, ['-version'], { timeout: 30_000 });
  } catch (err) {
    // `mvn -version` and `java -version` both exit 0; ENOENT means it is not installed.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ReprocessError('PREREQUISITE_MISSING', `${cmd} is not installed; it is needed ${why}.`, { hint: install });
    }
  }
}

/** Java major version from `java -version` (printed on stderr). */
export async function javaMajor(): Promise<number> {
  let out: string;
  try {
    const r = await run('java', ['-version'], { timeout: 30_000 });
    out = r.stderr + r.stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ReprocessError('PREREQUISITE_MISSING', 'java is not installed; the embedded Kafka and schema registry run on Java 17 or newer.', {
        hint: 'Install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless), or point KAFKA_BROKERS/SCHEMA_REGISTRY_URL at running services.',
      });
    }
    throw err;
  }
  const m = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = m ? Number(m[1] === '1' ? m[2] : m[1]) : 0;
  return major;
}

async function mvn(args: string[], cwd: string): Promise<void> {
  await requireCommand('mvn', 'once, to download the Kafka and schema registry jars from Maven Central', 'Install Apache Maven (Debian: apt-get install maven), or point KAFKA_BROKERS/SCHEMA_REGISTRY_URL at running services.');
  try {
    await run('mvn', ['-q', '-B', ...args], { cwd, timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  } catch (cause) {
    const stdout = (cause as { stdout?: string }).stdout ?? '';
    const tail = stdout.split('\n').filter((l) => l.includes('ERROR')).slice(0, 5).join('\n');
    throw new ReprocessError('STACK_START_FAILED', `Maven could not download the stack's artifacts (mvn ${args[0] ?? ''}).${tail ? '\n' + tail : ''}`, {
      hint: 'Check that Maven Central is reachable (or a mirror in ~/.m2/settings.xml), then run `reprocess stack up` again.',
      cause,
    });
  }
}

function kafkaPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka-reprocessor.stack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

/** Kafka's broker jars and runtime dependencies, fetched once with Maven into the cache. */
export async function ensureKafkaJars(layout: StackLayout): Promise<string> {
  if (existsSync(join(layout.kafkaLibs, `kafka_2.13-${KAFKA_VERSION}.jar`))) return layout.kafkaLibs;
  const dir = dirname(layout.kafkaPom);
  mkdirSync(dir, { recursive: true });
  writeFileSync(layout.kafkaPom, kafkaPom());
  const tmp = `${layout.kafkaLibs}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  await mvn(['dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${tmp}`], dir);
  // Rename last, so an interrupted download is never mistaken for a complete one.
  rmSync(layout.kafkaLibs, { recursive: true, force: true });
  renameSync(tmp, layout.kafkaLibs);
  return layout.kafkaLibs;
}

/** Apicurio Registry's packaged application (Quarkus), fetched once with Maven and unpacked. Returns the runnable jar. */
export async function ensureApicurio(layout: StackLayout): Promise<string> {
  const found = findRunnerJar(layout.apicurioDir);
  if (found) return found;
  const tmp = `${layout.apicurioDir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await mvn(['dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${tmp}`], tmp);
  const archive = readdirSync(tmp).find((f) => f.endsWith('.tar.gz'));
  if (!archive) throw new ReprocessError('STACK_START_FAILED', 'Maven finished but the Apicurio Registry archive is missing.');
  try {
    await run('tar', ['-xzf', archive], { cwd: tmp, timeout: 5 * 60_000 });
  } catch (cause) {
    throw new ReprocessError('PREREQUISITE_MISSING', 'Could not unpack the Apicurio Registry archive with tar.', { hint: 'Install tar and gzip.', cause });
  }
  rmSync(join(tmp, archive));
  rmSync(layout.apicurioDir, { recursive: true, force: true });
  renameSync(tmp, layout.apicurioDir);
  const jar = findRunnerJar(layout.apicurioDir);
  if (!jar) throw new ReprocessError('STACK_START_FAILED', 'The Apicurio Registry archive holds no runnable jar (expected quarkus-run.jar or *-runner.jar).');
  return jar;
}

function findRunnerJar(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  if (existsSync(join(dir, 'quarkus-run.jar'))) return join(dir, 'quarkus-run.jar');
  const runner = readdirSync(dir).find((f) => f.endsWith('-runner.jar'));
  return runner ? join(dir, runner) : undefined;
}
