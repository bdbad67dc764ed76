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
});
