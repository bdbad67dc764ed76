import { describe, expect, it } from 'vitest';
import { emptyDataset, promote, rollback, withVersion, type DatasetRecord } from '../../src/catalog/index.js';

const by = 'tester';
function dataset(): DatasetRecord {
  let r = emptyDataset('ue');
  r = withVersion(r, 2, { run: 'r2', runState: 'completed', state: 'validating' });
  r = withVersion(r, 3, { run: 'r3', runState: 'completed', state: 'validating' });
  return r;
}

describe('promotion rules', () => {
  it('promotes the first version once its run completed', () => {
    const r = promote(dataset(), 2, { by });
    expect(r?.live).toBe(2);
    expect(r?.versions.find((v) => v.version === 2)?.state).toBe('live');
    expect(r?.history).toEqual([expect.objectContaining({ action: 'promote', from: null, to: 2, by, run: 'r2', forced: false, reason: null })]);
  });

  it('refuses a version whose run has not completed, even the first', () => {
    const r = withVersion(emptyDataset('ue'), 1, { run: 'r1', runState: 'running' });
    expect(() => promote(r, 1, { by })).toThrow(/has not completed/);
  });

  it('refuses a later version without a passed gate, and says why', () => {
    const live = promote(dataset(), 2, { by }) ?? dataset();
    expect(() => promote(live, 3, { by })).toThrow(/not been compared with the live v2/);
    const failed = withVersion(live, 3, { gate: 'failed', report: 'r.json' });
    expect(() => promote(failed, 3, { by })).toThrow(/failed the validation gate \(report: r\.json\)/);
    const passed = withVersion(live, 3, { gate: 'passed' });
    expect(promote(passed, 3, { by })?.live).toBe(3);
  });

  it('--force needs a reason and is recorded as forced', () => {
    const live = promote(dataset(), 2, { by }) ?? dataset();
    expect(() => promote(live, 3, { by, force: true })).toThrow(/--reason/);
    const forced = promote(live, 3, { by, force: true, reason: 'hotfix' });
    expect(forced?.history[1]).toMatchObject({ action: 'promote', from: 2, to: 3, forced: true, reason: 'hotfix' });
    expect(forced?.versions.find((v) => v.version === 2)?.state).toBe('retired');
  });

  it('promoting the live version is a no-op', () => {
    const live = promote(dataset(), 2, { by }) ?? dataset();
    expect(promote(live, 2, { by })).toBeNull();
  });

  it('rolls back to the previous live version, and a rollback of the rollback returns', () => {
    let r = promote(dataset(), 2, { by }) ?? dataset();
    r = promote(withVersion(r, 3, { gate: 'passed' }), 3, { by }) ?? r;
    r = rollback(r, { by, reason: 'bad dashboards' });
    expect(r.live).toBe(2);
    expect(r.history[2]).toMatchObject({ action: 'rollback', from: 3, to: 2, reason: 'bad dashboards' });
    expect(r.versions.map((v) => [v.version, v.state])).toEqual([[2, 'live'], [3, 'retired']]);
    // Re-promotion of v3 is allowed: its gate passed.
    expect(promote(r, 3, { by })?.live).toBe(3);
    expect(() => rollback(promote(dataset(), 2, { by }) ?? dataset(), { by })).toThrow(/nothing to roll back to/);
  });
});
