import { describe, expect, it } from 'vitest';
import { parseSourceHeader } from '../../src/core/source-header.js';
import { ceilingAfter, DeliveryTracker, floorAfter, inDuplicateWindow, knownSourcePartitions, planSwitch, shouldDeliver, type SourceMark, type SwitchPlan } from '../../src/reader/switch.js';

const mark = (offset: number, timestamp: number): SourceMark => ({ offset: BigInt(offset), timestamp });
const src = (partition: number, offset: number) => ({ partition, offset: BigInt(offset) });

describe('reader switch: the pure computation', () => {
  it('parses the source header and refuses anything else', () => {
    expect(parseSourceHeader('3:120')).toEqual({ partition: 3, offset: 120n });
    expect(parseSourceHeader(Buffer.from('0:9223372036854775807'))).toEqual({ partition: 0, offset: 9223372036854775807n });
    for (const bad of [undefined, '', '3', ':1', '1:', 'a:1', '1:-2', '1:2:3']) expect(parseSourceHeader(bad)).toBeNull();
  });

  it('caught up everywhere: L = H, starts at the earliest of those, skips everything delivered', () => {
    const t = new DeliveryTracker();
    t.record(0, src(0, 5), 500);
    t.record(0, src(1, 7), 300);
    t.record(1, src(0, 9), 900);
    t.record(1, src(1, 2), 100);
    const plan = planSwitch({ partitions: t.partitions(new Map([[0, true], [1, true]])), floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect(plan.mode).toBe('source');
    expect(plan.delivered).toEqual(new Map([[0, mark(9, 900)], [1, mark(7, 300)]]));
    expect(plan.high).toEqual(new Map([[0, 9n], [1, 7n]]));
    expect(plan.start).toEqual({ kind: 'timestamp', timestamp: 300 });
    expect(shouldDeliver(plan, src(0, 9))).toBe(false);
    expect(shouldDeliver(plan, src(0, 10))).toBe(true);
    expect(shouldDeliver(plan, src(2, 0))).toBe(true);
    expect(shouldDeliver(plan, null)).toBe(true);
    expect(inDuplicateWindow(plan, src(0, 10))).toBe(false);
  });

  it('behind on some partitions: L is the minimum over those, the window (L, H] may repeat', () => {
    const t = new DeliveryTracker();
    t.record(0, src(0, 5), 500);
    t.record(0, src(1, 7), 700);
    t.record(1, src(0, 9), 900);
    t.record(1, src(1, 3), 300);
    t.record(2, src(0, 2), 200);
    t.record(2, src(1, 8), 800);
    // Partition 2 is caught up: its marks bound H but not L.
    const plan = planSwitch({ partitions: t.partitions(new Map([[0, false], [1, false], [2, true]])), floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect(plan.delivered).toEqual(new Map([[0, mark(5, 500)], [1, mark(3, 300)]]));
    expect(plan.high).toEqual(new Map([[0, 9n], [1, 8n]]));
    expect(plan.start).toEqual({ kind: 'timestamp', timestamp: 300 });
    expect(shouldDeliver(plan, src(1, 3))).toBe(false);
    expect(shouldDeliver(plan, src(1, 4))).toBe(true);
    expect(inDuplicateWindow(plan, src(1, 4))).toBe(true);
    expect(inDuplicateWindow(plan, src(1, 9))).toBe(false);
  });

  it('a behind partition that never delivered a source partition makes it unknown: beginning, or the lookback', () => {
    const t = new DeliveryTracker();
    t.record(0, src(0, 5), 500);
    t.record(0, src(1, 7), 700);
    t.record(1, src(0, 9), 900);
    const caught = new Map([[0, false], [1, false]]);
    const plan = planSwitch({ partitions: t.partitions(caught), floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect(plan.delivered).toEqual(new Map([[0, mark(5, 500)], [1, null]]));
    expect(plan.start).toEqual({ kind: 'beginning' });
    expect(shouldDeliver(plan, src(1, 0))).toBe(true);
    expect(inDuplicateWindow(plan, src(1, 7))).toBe(true);
    const looked = planSwitch({ partitions: t.partitions(caught), floor: t.floor, headerless: false, lookbackMs: 100, fromBeginning: true });
    expect(looked.start).toEqual({ kind: 'timestamp', timestamp: 400 });
    // Source partitions are numbered from 0: one below the highest seen, never delivered, is unknown.
    const t2 = new DeliveryTracker();
    t2.record(0, src(2, 4), 400);
    const gap = planSwitch({ partitions: t2.partitions(new Map([[0, true]])), floor: t2.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect(gap.delivered).toEqual(new Map([[0, null], [1, null], [2, mark(4, 400)]]));
    expect(gap.start).toEqual({ kind: 'beginning' });
    const told = planSwitch({ partitions: t2.partitions(new Map([[0, true]])), floor: t2.floor, headerless: false, lookbackMs: null, fromBeginning: true, sourcePartitions: 4 });
    expect([...told.delivered.keys()]).toEqual([0, 1, 2, 3]);
    // A partition of the old topic that never delivered anything and is behind: nothing is known.
    const silent = planSwitch({ partitions: t.partitions(new Map([[0, true], [1, true], [2, false]])), floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect([...silent.delivered.values()]).toEqual([null, null]);
  });

  it("takes the source's partition count from the catalog's versions or the option, whichever is larger", () => {
    const version = (v: number, partitions?: number) => ({ version: v, ...(partitions ? { source: { topic: 'raw', partitions } } : {}) });
    const record = { versions: [version(1), version(2, 4), version(3, 6)] } as never;
    expect(knownSourcePartitions(record, [2, 3], null)).toBe(6);
    expect(knownSourcePartitions(record, [3, 2], 8)).toBe(8);
    expect(knownSourcePartitions(record, [1, 2], null)).toBe(4);
    // Versions recorded without it (written by hand, or by an earlier release), or not in the record: the option alone.
    expect(knownSourcePartitions(record, [1, 9], null)).toBeNull();
    expect(knownSourcePartitions(record, [1], 3)).toBe(3);
    expect(knownSourcePartitions(null, [2], null)).toBeNull();
  });

  it('nothing delivered: the beginning, or the end for a reader that starts at the end and was caught up', () => {
    const t = new DeliveryTracker();
    const base = { floor: t.floor, headerless: false, lookbackMs: null };
    expect(planSwitch({ ...base, partitions: t.partitions(new Map([[0, true]])), fromBeginning: true }).start).toEqual({ kind: 'beginning' });
    expect(planSwitch({ ...base, partitions: t.partitions(new Map([[0, true]])), fromBeginning: false }).start).toEqual({ kind: 'end' });
    expect(planSwitch({ ...base, partitions: t.partitions(new Map([[0, false]])), fromBeginning: false }).start).toEqual({ kind: 'beginning' });
  });

  it('read ahead on a behind partition: L is the offset before its first undelivered record; read to the end, no bound', () => {
    const t = new DeliveryTracker();
    t.record(0, src(0, 9), 900);
    t.record(1, src(0, 4), 400);
    t.record(1, src(1, 6), 600);
    const [q0, q1] = t.partitions(new Map([[0, false], [1, false]])) as [ReturnType<DeliveryTracker['partitions']>[number], ReturnType<DeliveryTracker['partitions']>[number]];
    const plan = planSwitch({
      partitions: [{ ...q0, next: new Map([[1, mark(2, 250)]]), exhausted: false }, { ...q1, next: new Map([[0, mark(7, 700)]]), exhausted: true }],
      floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true,
    });
    // p0: q0 says nothing ahead (not exhausted, delivered 9) → 9; q1's next p0 record is 7 → 6. p1: q0's next is 2 → 1; q1 read to its end without p1.
    expect(plan.delivered).toEqual(new Map([[0, mark(6, 700)], [1, mark(1, 250)]]));
    expect(plan.start).toEqual({ kind: 'timestamp', timestamp: 250 });
  });

  it('records without a source header fall back to event time with no dedup', () => {
    const t = new DeliveryTracker();
    t.record(0, null, 500);
    t.record(1, null, 900);
    const plan = planSwitch({ partitions: t.partitions(new Map([[0, false], [1, true]])), floor: t.floor, headerless: true, lookbackMs: 50, fromBeginning: true });
    expect(plan.mode).toBe('event-time');
    expect(plan.start).toEqual({ kind: 'timestamp', timestamp: 450 });
    expect(shouldDeliver(plan, src(0, 0))).toBe(true);
  });

  it('the previous switch carries over: what was delivered before counts on every partition of the new topic', () => {
    const floor = new Map([[0, mark(5, 500)], [1, mark(3, 300)]]);
    const t = new DeliveryTracker(floor);
    t.record(0, src(0, 6), 600);
    const plan = planSwitch({ partitions: t.partitions(new Map([[0, false], [1, false]])), floor: t.floor, headerless: false, lookbackMs: null, fromBeginning: true });
    expect(plan.delivered).toEqual(new Map([[0, mark(5, 500)], [1, mark(3, 300)]]));
    expect(plan.high).toEqual(new Map([[0, 6n], [1, 3n]]));
    expect(floorAfter(plan)).toEqual(floor);
  });

  // A simulated source, two versions that drop different records, dataset partitions that
  // interleave source partitions, and a reader stopped at random places, switching back and forth.
  it('simulated: no gap, and repeats only inside the documented window, over many random switches', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed >>> 12) % n;
    };
    let narrowed = 0;
    for (let round = 0; round < 200; round++) {
      const P = 1 + rand(4);
      const Q = 1 + rand(4);
      const next = new Array<number>(P).fill(0);
      // Source records: (p, o, ts), ts increasing per source partition.
      const source: { p: number; o: number; ts: number; q: number }[] = [];
      for (let n = 0; n < 300; n++) {
        const p = rand(P);
        const o = next[p] ?? 0;
        next[p] = o + 1;
        source.push({ p, o, ts: n * 10, q: rand(Q) });
      }
      // A version: keeps a record unless its filter drops it; written in chunks per source partition.
      type Rec = { p: number; o: number; ts: number };
      const version = (drop: (r: Rec) => boolean): Rec[][] => {
        const parts: Rec[][] = Array.from({ length: Q }, () => []);
        const queues = Array.from({ length: P }, (_, p) => source.filter((r) => r.p === p));
        while (queues.some((qq) => qq.length)) {
          const p = rand(P);
          for (const r of (queues[p] ?? []).splice(0, 1 + rand(40))) if (!drop(r)) parts[r.q]?.push({ p: r.p, o: r.o, ts: r.ts });
        }
        return parts;
      };
      const topics = [version((r) => r.o % 13 === 5), version((r) => r.o % 7 === 3)];
      const key = (p: number, o: number): string => `${p}:${o}`;
      const count = new Map<string, number>();
      const cuts: SwitchPlan[] = [];
      let plan: SwitchPlan | null = null;
      let tracker = new DeliveryTracker();
      const switches = 1 + rand(4);
      for (let phase = 0; phase <= switches; phase++) {
        const parts = topics[phase % 2] ?? [];
        const last = phase === switches;
        const caught = new Map<number, boolean>();
        const ahead = new Map<number, { next: Map<number, SourceMark>; exhausted: boolean }>();
        parts.forEach((records, q) => {
          // Start: the first record whose timestamp is ≥ T_lo (offsets for timestamp), or the beginning.
          const startTs: number | null = plan === null ? null : plan.start.kind === 'timestamp' ? plan.start.timestamp : plan.start.kind === 'end' ? Infinity : null;
          let start = startTs === null ? 0 : records.findIndex((r) => r.ts >= startTs);
          if (start < 0) start = records.length;
          const upto = last || rand(3) === 0 ? records.length : start + rand(records.length - start + 1);
          caught.set(q, upto === records.length);
          if (upto < records.length && rand(2) === 0) {
            // The reader's read-ahead at the switch, with a random budget.
            const next = new Map<number, SourceMark>();
            const budget = rand(60);
            const rest = records.slice(upto, upto + budget);
            for (const r of rest) if (!next.has(r.p)) next.set(r.p, mark(r.o, r.ts));
            ahead.set(q, { next, exhausted: upto + budget >= records.length });
          }
          for (const r of records.slice(start, upto)) {
            if (!shouldDeliver(plan, src(r.p, r.o))) continue;
            // A repeat is always inside the window of the switch just before it (what stats count).
            if (count.has(key(r.p, r.o))) expect(inDuplicateWindow(plan, src(r.p, r.o)), `round ${round}: ${key(r.p, r.o)} repeated`).toBe(true);
            tracker.record(q, src(r.p, r.o), r.ts);
            count.set(key(r.p, r.o), (count.get(key(r.p, r.o)) ?? 0) + 1);
          }
        });
        if (last) break;
        const partitions = tracker.partitions(caught).map((q) => ({ ...q, ...ahead.get(q.partition) }));
        plan = planSwitch({ partitions, floor: tracker.floor, ceiling: tracker.ceiling, headerless: false, lookbackMs: null, fromBeginning: true, sourcePartitions: P });
        cuts.push(plan);
        // A switch while behind that still started mid-topic, with a real duplicate window.
        const p0 = plan;
        if (p0.start.kind === 'timestamp' && [...p0.delivered].some(([p, l]) => l && l.offset < (p0.high.get(p) ?? 0n))) narrowed++;
        tracker = new DeliveryTracker(floorAfter(plan), ceilingAfter(plan));
        if ([...caught.values()].every(Boolean)) {
          for (const [p, l] of plan.delivered) if (l) expect(l.offset).toBe(plan.high.get(p));
        }
      }
      // No gap: a record belongs to the last phase whose cut it is beyond; it must have been delivered
      // if that phase's version holds it.
      const cutOf = (i: number, p: number): number => {
        const l = cuts[i - 1]?.delivered.get(p);
        return i === 0 || !l ? -1 : Number(l.offset);
      };
      for (const r of source) {
        let owner = 0;
        for (let i = 1; i <= cuts.length; i++) if (r.o > cutOf(i, r.p)) owner = i;
        const holds = (topics[owner % 2] ?? []).some((recs) => recs.some((x) => x.p === r.p && x.o === r.o));
        if (holds) expect(count.get(key(r.p, r.o)) ?? 0, `round ${round}: ${key(r.p, r.o)} owned by phase ${owner}`).toBeGreaterThan(0);
      }
      // Repeats only inside some switch's window (L, H].
      for (const [k, n] of count) {
        if (n < 2) continue;
        const [p, o] = k.split(':').map(Number) as [number, number];
        expect(cuts.some((c) => inDuplicateWindow(c, src(p, o))), `round ${round}: ${k} delivered ${n} times`).toBe(true);
      }
    }
    expect(narrowed).toBeGreaterThan(20);
  });
});
