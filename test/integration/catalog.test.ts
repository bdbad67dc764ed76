import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Catalog, withVersion } from '../../src/catalog/index.js';
import { BIN, cli } from '../support/cli.js';
import { testKafka, unique, cleanupDatasets } from '../support/env.js';
import { createSource, makeEvents, writeJob, type JobDir } from '../support/replay-fixture.js';
import { sleep } from '../support/workers.js';

interface DatasetJson {
  dataset: string;
  live: number | null;
  versions: { version: number; topic: string; state: string; run: string | null }[];
  history: { action: string; from: number | null; to: number; at: string; by: string; run: string | null; forced: boolean; reason: string | null }[];
}

describe('dataset catalog, promotion and rollback', () => {
  const kafka = testKafka();
  const catalog = new Catalog(kafka.client);
  const jobs: JobDir[] = [];
  afterAll(() => cleanupDatasets(kafka.client, jobs));
  const show = async (dataset: string): Promise<DatasetJson> => {
    const r = await cli(['datasets', dataset, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as DatasetJson;
  };

  it('replays record their versions; promote, a refused promote, --force, rollback and history', async () => {
    const source = await createSource(kafka.client, makeEvents(60), { partitions: 2 });
    const dataset = unique('ds').replace(/-/g, '_');
    const v2 = writeJob(source, { dataset, version: 2, extra: 'promote: auto\n' });
    const v3 = writeJob(source, { dataset, version: 3 });
    jobs.push(v2, v3);

    expect(await show(dataset).catch(() => null)).toBeNull();
    const r2 = await cli(['replay', v2.spec, '--run-id', `${dataset}-r2`, '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain(`${dataset} v2 is live now`);
    let d = await show(dataset);
    expect(d.live).toBe(2);
    expect(d.versions).toEqual([expect.objectContaining({ version: 2, topic: `${dataset}_v2`, state: 'live', run: `${dataset}-r2` })]);

    // The live version is never a sink.
    const again = await cli(['replay', v2.spec, '--json']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is the live version');

    const r3 = await cli(['replay', v3.spec, '--run-id', `${dataset}-r3`, '--json']);
    expect(r3.code, r3.stderr).toBe(0);
    d = await show(dataset);
    expect(d.versions.find((v) => v.version === 3)?.state).toBe('validating');

    // No gate result: refused with exit 3 and the reason; nothing changes.
    const refused = await cli(['promote', dataset, '3']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('not been compared with the live v2');
    expect((await show(dataset)).live).toBe(2);

    // A failed gate, then --force.
    await catalog.update(dataset, (r) => withVersion(r, 3, { gate: 'failed', report: 'report-v3.json' }));
    const stillRefused = await cli(['promote', dataset, '3']);
    expect(stillRefused.code).toBe(3);
    expect(stillRefused.stderr).toContain('failed the validation gate');
    const forced = await cli(['promote', dataset, '3', '--force', '--reason', 'hotfix for incident 42', '--by', 'alice']);
    expect(forced.code, forced.stderr).toBe(0);
    d = await show(dataset);
    expect(d.live).toBe(3);
    expect(d.history[d.history.length - 1]).toMatchObject({ action: 'promote', from: 2, to: 3, by: 'alice', run: `${dataset}-r3`, forced: true, reason: 'hotfix for incident 42' });
    expect((await cli(['promote', dataset, '3'])).code).toBe(0);

    const back = await cli(['rollback', dataset, '--by', 'bob']);
    expect(back.code, back.stderr).toBe(0);
    d = await show(dataset);
    expect(d.live).toBe(2);
    expect(d.history.map((h) => [h.action, h.from, h.to])).toEqual([['promote', null, 2], ['promote', 2, 3], ['rollback', 3, 2]]);
    expect(d.versions.map((v) => [v.version, v.state])).toEqual([[2, 'live'], [3, 'retired']]);
    // A version that was live is what a rollback returns to: never rewritten.
    const rewrite = await cli(['replay', v3.spec, '--json']);
    expect(rewrite.code).toBe(2);
    expect(rewrite.stderr).toContain('was live before');
  });

  it('two promoters racing: exactly one wins, the other fails clearly and changes nothing', async () => {
    const dataset = unique('race').replace(/-/g, '_');
    await catalog.update(dataset, (r) => withVersion(withVersion(r, 1, { run: 'a', runState: 'completed' }), 2, { run: 'b', runState: 'completed' }));
    const results = await Promise.allSettled([
      cli(['promote', dataset, '1', '--by', 'one']),
      cli(['promote', dataset, '2', '--by', 'two']),
    ]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? r.value.code : -1));
    const d = await catalog.get(dataset);
    // Either both ran one after the other (the second then promotes over the first: v1 → v2 needs
    // a gate, so it fails), or they overlapped and the loser got a conflict. One wins either way.
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect(d?.history).toHaveLength(1);
    const loser = results.find((r) => r.status === 'fulfilled' && r.value.code !== 0);
    expect(loser?.status === 'fulfilled' ? loser.value.stderr : '').toMatch(/changed while this command ran|at the same time and won|cannot be promoted/);
  });

  it('bookkeeping from many writers at once (workers of one run starting together) all lands', async () => {
    const dataset = unique('many').replace(/-/g, '_');
    // Each writer fences the others as it begins; every loser retries on the record the winner wrote.
    await Promise.all(Array.from({ length: 8 }, (_, i) => new Catalog(kafka.client).updateRetrying(dataset, (r) => withVersion(r, i + 1, { run: `run-${i + 1}`, runState: 'running' }), 20)));
    const d = await catalog.get(dataset);
    expect(d?.versions.map((v) => [v.version, v.run])).toEqual(Array.from({ length: 8 }, (_, i) => [i + 1, `run-${i + 1}`]));
    expect(d?.revision).toBe(8);
  });

  it('a promote killed at any moment leaves the pointer old or new, never missing', async () => {
    const dataset = unique('kill').replace(/-/g, '_');
    await catalog.update(dataset, (r) => withVersion(withVersion(r, 1, { run: 'a', runState: 'completed' }), 2, { run: 'b', runState: 'completed' }));
    await cli(['promote', dataset, '1']);
    for (const delay of [50, 300, 700, 1200]) {
      const child = spawn(process.execPath, [BIN, 'promote', dataset, '2', '--force', '--reason', 'kill test'], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      await sleep(delay);
      child.kill('SIGKILL');
      await exited;
      const live = (await catalog.get(dataset))?.live;
      expect([1, 2]).toContain(live);
      if (live === 2) await cli(['rollback', dataset]);
    }
  });
});
