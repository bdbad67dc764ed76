import { describe, expect, it } from 'vitest';
import { resolveOwners, type WorkerHeartbeat } from '../../src/runs/store.js';

const worker = (workerId: string, partitions: number[], assignedAt: string | undefined, at = '2026-12-06T07:00:09.000Z'): WorkerHeartbeat => ({
  workerId, host: 'h', pid: 1, partitions, ...(assignedAt ? { assignedAt } : {}), at,
});

describe('resolveOwners (who works where, as status shows it)', () => {
  it('gives a partition two workers list to the one given it last, and leaves the rest as they are', () => {
    // A was given 0–3 before the rebalance and has not reported since; B and C were given theirs after it.
    const a = worker('a', [0, 1, 2, 3], '2026-12-06T07:00:00.000Z');
    const b = worker('b', [1, 2], '2026-12-06T07:00:05.000Z');
    const c = worker('c', [3], '2026-12-06T07:00:05.500Z');
    expect(resolveOwners([a, b, c]).map((w) => [w.workerId, w.partitions])).toEqual([['a', [0]], ['b', [1, 2]], ['c', [3]]]);
    // Whatever order the hash gives them in.
    expect(resolveOwners([c, b, a]).map((w) => [w.workerId, w.partitions])).toEqual([['c', [3]], ['b', [1, 2]], ['a', [0]]]);
  });

  it('takes the heartbeat time for workers that do not say when they were given their partitions', () => {
    const old = worker('old', [0, 1], undefined, '2026-12-06T07:00:01.000Z');
    const now = worker('new', [1], '2026-12-06T07:00:03.000Z');
    const got = resolveOwners([old, now]);
    expect(new Set(got.flatMap((w) => w.partitions)).size).toBe(got.flatMap((w) => w.partitions).length);
    expect(got.find((w) => w.workerId === 'new')?.partitions).toEqual([1]);
    expect(got.find((w) => w.workerId === 'old')?.partitions).toEqual([0]);
  });
});
