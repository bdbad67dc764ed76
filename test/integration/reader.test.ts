import { describe, expect, it } from 'vitest';
import { Catalog, withVersion } from '../../src/catalog/index.js';
import { resolveLive } from '../../src/reader/index.js';
import { cli } from '../support/cli.js';
import { testKafka, unique } from '../support/env.js';

describe('resolveLive', () => {
  const kafka = testKafka();

  it('names the live topic, null before the first promotion, and follows promote and rollback', async () => {
    const dataset = unique('live').replace(/-/g, '_');
    const catalog = new Catalog(kafka.client);
    await catalog.update(dataset, (r) => withVersion(withVersion(r, 1, { run: 'a', runState: 'completed' }), 2, { run: 'b', runState: 'completed', gate: 'passed' }));
    expect(await resolveLive(dataset, { kafka: kafka.client })).toBeNull();
    expect((await cli(['promote', dataset, '1'])).code).toBe(0);
    expect(await resolveLive(dataset, { kafka: kafka.client })).toEqual({ dataset, version: 1, topic: `${dataset}_v1` });
    expect((await cli(['promote', dataset, '2'])).code).toBe(0);
    expect((await resolveLive(dataset, { kafka: kafka.client }))?.topic).toBe(`${dataset}_v2`);
    expect((await cli(['rollback', dataset])).code).toBe(0);
    expect((await resolveLive(dataset, { kafka: kafka.client }))?.version).toBe(1);
  });
});
