import { describe, expect, it } from 'vitest';
import { isReprocessError } from '../../src/errors.js';
import { missingNodeFlags, SINGLE_THREADED_GC } from '../../src/util/node-flags.js';

const facts = (cores: number, env: Record<string, string> = {}, execArgv: string[] = []) => ({ cores, env, execArgv });

describe('the node flags the CLI gives itself', () => {
  it('asks for --single-threaded-gc on two cores or fewer, and not where cores are to spare', () => {
    expect(missingNodeFlags(facts(1))).toEqual([SINGLE_THREADED_GC]);
    expect(missingNodeFlags(facts(2))).toEqual([SINGLE_THREADED_GC]);
    expect(missingNodeFlags(facts(3))).toEqual([]);
    expect(missingNodeFlags(facts(64))).toEqual([]);
  });

  it('asks for nothing the process already runs with, so a relaunched process does not relaunch again', () => {
    expect(missingNodeFlags(facts(2, {}, ['--expose-gc', SINGLE_THREADED_GC]))).toEqual([]);
    expect(missingNodeFlags(facts(8, { REPROCESS_SINGLE_THREADED_GC: '1' }, [SINGLE_THREADED_GC]))).toEqual([]);
  });

  it('follows REPROCESS_SINGLE_THREADED_GC whatever the core count; empty counts as unset', () => {
    expect(missingNodeFlags(facts(16, { REPROCESS_SINGLE_THREADED_GC: '1' }))).toEqual([SINGLE_THREADED_GC]);
    expect(missingNodeFlags(facts(2, { REPROCESS_SINGLE_THREADED_GC: '0' }))).toEqual([]);
    expect(missingNodeFlags(facts(2, { REPROCESS_SINGLE_THREADED_GC: '' }))).toEqual([SINGLE_THREADED_GC]);
  });

  it('refuses any other setting with what it takes', () => {
    for (const bad of ['yes', 'true', ' 1', '2']) {
      let thrown: unknown;
      try {
        missingNodeFlags(facts(2, { REPROCESS_SINGLE_THREADED_GC: bad }));
      } catch (err) {
        thrown = err;
      }
      expect(isReprocessError(thrown) && thrown.code).toBe('CONFIG_INVALID');
      expect((thrown as Error).message).toBe(`REPROCESS_SINGLE_THREADED_GC is "${bad}"; it takes 1 or 0.`);
      expect(isReprocessError(thrown) && thrown.hint).toContain('unset it: 1 on a machine with two cores or fewer');
    }
  });
});
