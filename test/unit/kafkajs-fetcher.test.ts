import { describe, expect, it } from 'vitest';
import { FETCH_AHEAD, OVERLAP_ROUNDS, createFetcher, readyToFetchAhead, readyToOverlap } from '../../src/kafka/kafkajs-fetcher.js';

interface Batch {
  topic: string;
  partition: number;
  rawMessages: unknown[];
  [FETCH_AHEAD]?: boolean;
  [OVERLAP_ROUNDS]?: boolean;
}

const logger = { namespace: () => ({ info: () => undefined }) };
const batch = (partition: number, records = 1): Batch => ({ topic: 't', partition, rawMessages: Array.from({ length: records }) });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A fetcher over scripted rounds. `handle` plays the consumer's handlers: it runs as push() hands
 * a round over (marking batches, as a fetch-ahead consumer does) and returns when the round is done.
 */
function harness(rounds: Batch[][], handle: (round: number, batches: Batch[]) => Promise<void>) {
  const events: string[] = [];
  let fetches = 0;
  let pushes = 0;
  const fetcher = createFetcher({
    nodeId: 1,
    partitionAssignments: new Map(),
    logger,
    fetch: async () => {
      const n = fetches++;
      events.push(`fetch ${n}`);
      await tick();
      return rounds[n] ?? [];
    },
    workerQueue: {
      push: async (...batches: Batch[]) => {
        const n = pushes++;
        events.push(`push ${n}`);
        await handle(n, batches);
        events.push(`done ${n}`);
      },
    },
  });
  return { fetcher, events, fetches: () => fetches };
}

describe('the fetch-ahead fetcher', () => {
  it('fetches the next round while one is processed, once every batch of it was marked', async () => {
    const rounds = [[batch(0), batch(1)], [batch(0), batch(1)], [batch(0)]];
    const h = harness(rounds, async (n, batches) => {
      for (const b of batches) b[FETCH_AHEAD] = true;
      for (let i = 0; i < 5; i++) await tick();
      if (n === 2) void h.fetcher.stop();
    });
    await h.fetcher.start();
    // The fetch of round 1 starts before round 0 is done, and so on.
    expect(h.events.indexOf('fetch 1')).toBeLessThan(h.events.indexOf('done 0'));
    expect(h.events.indexOf('fetch 2')).toBeLessThan(h.events.indexOf('done 1'));
    // And a round is handed over only after the one before it is done.
    expect(h.events.indexOf('push 1')).toBeGreaterThan(h.events.indexOf('done 0'));
    expect(h.events.indexOf('push 2')).toBeGreaterThan(h.events.indexOf('done 1'));
  });

  it('waits for a round to be processed when one of its batches was not marked, as kafkajs does', async () => {
    const rounds = [[batch(0), batch(1)], [batch(0)]];
    const h = harness(rounds, async (n, batches) => {
      (batches[0] as Batch)[FETCH_AHEAD] = true; // the other one stays unmarked
      for (let i = 0; i < 5; i++) await tick();
      if (n === 1) void h.fetcher.stop();
    });
    await h.fetcher.start();
    expect(h.events.indexOf('fetch 1')).toBeGreaterThan(h.events.indexOf('done 0'));
  });

  it('counts a partition that brought nothing as ready: fetching it again from the same place is right', () => {
    const marked = batch(0);
    marked[FETCH_AHEAD] = true;
    expect(readyToFetchAhead([marked, batch(1, 0)])).toBe(true);
    expect(readyToFetchAhead([marked, batch(1, 3)])).toBe(false);
    // A consumer that does not fetch ahead never does, not even on a round that brought nothing.
    expect(readyToFetchAhead([batch(0, 0), batch(1, 0)])).toBe(false);
  });

  it('ends with the error of a round that failed, and drops the round fetched ahead', async () => {
    const rounds = [[batch(0)], [batch(0)], [batch(0)]];
    const h = harness(rounds, async (n, batches) => {
      for (const b of batches) b[FETCH_AHEAD] = true;
      await tick();
      if (n === 0) throw new Error('handler failed');
    });
    await expect(h.fetcher.start()).rejects.toThrow('handler failed');
    // Round 1 was fetched ahead, never handed over.
    expect(h.fetches()).toBe(2);
    expect(h.events.filter((e) => e.startsWith('push'))).toEqual(['push 0']);
  });

  it('with rounds overlapping, hands the next round over while one is in the handlers, never more than two', async () => {
    const rounds = [[batch(0), batch(1)], [batch(0), batch(1)], [batch(0), batch(1)], [batch(0)]];
    let inHandlers = 0;
    let most = 0;
    const h = harness(rounds, async (n, batches) => {
      for (const b of batches) {
        b[FETCH_AHEAD] = true;
        b[OVERLAP_ROUNDS] = true;
      }
      inHandlers++;
      most = Math.max(most, inHandlers);
      for (let i = 0; i < 20; i++) await tick();
      inHandlers--;
      if (n === 3) void h.fetcher.stop();
    });
    await h.fetcher.start();
    expect(h.events.indexOf('push 1')).toBeLessThan(h.events.indexOf('done 0'));
    expect(h.events.indexOf('push 2')).toBeLessThan(h.events.indexOf('done 1'));
    // The round before must be done before the next is handed over.
    expect(h.events.indexOf('push 2')).toBeGreaterThan(h.events.indexOf('done 0'));
    expect(h.events.indexOf('push 3')).toBeGreaterThan(h.events.indexOf('done 1'));
    expect(most).toBe(2);
    // Stopping waits for every round handed over.
    expect(h.events.filter((e) => e.startsWith('done'))).toHaveLength(h.events.filter((e) => e.startsWith('push')).length);
  });

  it('overlaps only rounds whose every batch with records is marked so', () => {
    const both = (b: Batch): Batch => Object.assign(b, { [FETCH_AHEAD]: true, [OVERLAP_ROUNDS]: true });
    const aheadOnly = (b: Batch): Batch => Object.assign(b, { [FETCH_AHEAD]: true });
    expect(readyToOverlap([both(batch(0)), batch(1, 0)])).toBe(true);
    expect(readyToOverlap([both(batch(0)), aheadOnly(batch(1))])).toBe(false);
    expect(readyToOverlap([aheadOnly(batch(0))])).toBe(false);
  });

  it('with rounds overlapping, ends with the error of a round that failed once the round after it is done', async () => {
    const rounds = [[batch(0)], [batch(0)], [batch(0)], [batch(0)]];
    const h = harness(rounds, async (n, batches) => {
      for (const b of batches) Object.assign(b, { [FETCH_AHEAD]: true, [OVERLAP_ROUNDS]: true });
      for (let i = 0; i < (n === 0 ? 10 : 3); i++) await tick();
      if (n === 0) throw new Error('handler failed');
    });
    await expect(h.fetcher.start()).rejects.toThrow('handler failed');
    // Round 1 was handed over while round 0 ran; round 2 never was.
    expect(h.events.filter((e) => e.startsWith('push'))).toEqual(['push 0', 'push 1']);
  });
});
