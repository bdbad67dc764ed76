import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { stackEndpoints, stackLayout, stackUp } from '../../src/stack/index.js';
import { startContainers, type StartedStack } from './containers.js';

const run = promisify(execFile);

declare module 'vitest' {
  export interface ProvidedContext {
    stackMode: 'environment' | 'testcontainers' | 'embedded';
  }
}

async function dockerEngineAnswers(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Chooses the services the tests talk to, in order: endpoints given by KAFKA_BROKERS /
 * SCHEMA_REGISTRY_URL / REDIS_URL; containers where a Docker engine answers; otherwise the
 * embedded stack (started if it is not running). None of them is a mock. The choice reaches the
 * test files through the same variables the product reads.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env;
  let containers: StartedStack | undefined;
  if (env.KAFKA_BROKERS || env.SCHEMA_REGISTRY_URL || env.REDIS_URL) {
    project.provide('stackMode', 'environment');
  } else if (await dockerEngineAnswers()) {
    containers = await startContainers();
    Object.assign(env, containers.env);
    project.provide('stackMode', 'testcontainers');
  } else {
    const layout = stackLayout();
    await stackUp({ layout, timeoutMs: 300_000 });
    const e = stackEndpoints(layout);
    env.KAFKA_BROKERS = e.kafka;
    env.SCHEMA_REGISTRY_URL = e.registry;
    env.REDIS_URL = e.redis;
    project.provide('stackMode', 'embedded');
  }
  // The embedded stack stays up for the next run (`reprocess stack down` stops it); containers go.
  return async () => {
    await containers?.stop();
  };
}
