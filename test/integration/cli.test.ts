import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cli, cliProcess } from '../support/cli.js';

describe('reprocess command line', () => {
  it('prints usage and exits 2 for an unknown command', async () => {
    const r = await cliProcess(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain('Usage: reprocess <command>');
  });

  it('prints the command usage and exits 2 for an unknown flag', async () => {
    const r = await cliProcess(['stack', 'status', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--frobnicate'");
    expect(r.stderr).toContain('Usage: reprocess stack');
  });

  it('teaches with --help: every option with its default and examples', async () => {
    const r = await cliProcess(['stack', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--timeout <seconds>');
    expect(r.stdout).toContain('(default: 240)');
    expect(r.stdout).toContain('Examples:');
    const top = await cliProcess(['--help']);
    expect(top.stdout).toContain('KAFKA_BROKERS');
  });

  it('names an unreachable endpoint and the variable that sets it in one line, without a stack trace', async () => {
    const r = await cli(['doctor'], { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://:s3cret-pass@127.0.0.1:2', SCHEMA_REGISTRY_URL: 'http://admin:s3cret-pass@127.0.0.1:3' });
    expect(r.code).toBe(1);
    const all = r.stdout + r.stderr;
    expect(all).toContain('Cannot reach Kafka at 127.0.0.1:1 (set by KAFKA_BROKERS)');
    expect(all).toContain('Cannot reach Redis at redis://:***@127.0.0.1:2 (set by REDIS_URL)');
    expect(all).toContain('(set by SCHEMA_REGISTRY_URL)');
    expect(all).not.toContain('s3cret-pass');
    expect(all).not.toMatch(/\n\s+at /);
  });

  it('reports a malformed endpoint variable as a usage error', async () => {
    const r = await cli(['doctor'], { ...process.env, KAFKA_BROKERS: 'not a broker list' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('KAFKA_BROKERS must be a comma-separated list of host:port');
  });

  it('doctor passes against the stack the tests use', async () => {
    const r = await cli(['doctor', '--json']);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; checks: { service: string; ok: boolean }[] };
    expect(body.ok).toBe(true);
    expect(body.checks.map((c) => c.service)).toEqual(['kafka', 'registry', 'redis']);
  });

  it('runs itself under --single-threaded-gc on two cores or fewer, or as REPROCESS_SINGLE_THREADED_GC says', async () => {
    const gcOf = async (setting: string | undefined): Promise<boolean> => {
      const env = { ...process.env, REPROCESS_SINGLE_THREADED_GC: setting };
      const r = await cliProcess(['doctor', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const body = JSON.parse(r.stdout) as { runtime: { node: string; cores: number; singleThreadedGc: boolean } };
      expect(body.runtime.node).toBe(process.version);
      expect(body.runtime.cores).toBe(availableParallelism());
      return body.runtime.singleThreadedGc;
    };
    expect(await gcOf('1')).toBe(true);
    expect(await gcOf('0')).toBe(false);
    expect(await gcOf(undefined)).toBe(availableParallelism() <= 2);
    const shown = await cliProcess(['doctor'], { ...process.env, REPROCESS_SINGLE_THREADED_GC: '1' });
    expect(shown.stdout).toContain(`Node.js ${process.version}, ${availableParallelism()} core`);
    expect(shown.stdout).toContain('garbage collected on the threads that allocate (--single-threaded-gc)');
    const bad = await cliProcess(['doctor'], { ...process.env, REPROCESS_SINGLE_THREADED_GC: 'yes' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('REPROCESS_SINGLE_THREADED_GC is "yes"; it takes 1 or 0.');
    expect(bad.stdout).toBe('');
  });
});
