import type { DatasetRecord } from '../catalog/index.js';
import type { SourcePosition } from '../core/source-header.js';

/*
 * The pure part of a reader's version switch: what it has delivered, where to start on the new
 * topic, and which records of the new topic it must skip. No Kafka here.
 *
 * Every dataset record names its source record (partition p, offset o). Within one dataset
 * partition q, the records of one source partition p come in increasing o, so "the highest o of p
 * delivered from q" (M[q][p]) says that every record of p in q up to it was delivered. A switch
 * computes, per source partition p:
 *
 *   L[p] = min over old partitions q that were NOT caught up of M[q][p]   (certainly delivered ≤ L)
 *          (unknown when such a q never delivered p; H[p] when every q was caught up). The reader
 *          reads each behind q ahead (without delivering) to its first undelivered record of each p
 *          and uses the offset before that instead of M[q][p]: exact, and known even where q
 *          never delivered p; a q read to its end without p does not bound L[p].
 *   H[p] = max over q of M[q][p]                                          (certainly not delivered > H)
 *
 * and delivers a record (p, o) of the new topic iff o > L[p]. Records in (L[p], H[p]] may be
 * delivered twice (the duplicate window, only when the reader was behind somewhere); nothing is
 * skipped that was not delivered. The new topic is read from the first offset whose timestamp is
 * ≥ T_lo = min over p of the timestamp of (p, L[p]): assuming that, per source partition,
 * timestamps do not decrease with offset, every record with o > L[p] is at or after it.
 */

/**
 * A source position of one source partition and a timestamp that no later record of that source
 * partition is older than (the record's own timestamp, or that of the record after it).
 */
export interface SourceMark {
  offset: bigint;
  timestamp: number;
}

/** What a reader delivered from one topic (one per topic it reads, replaced at each switch). */
export class DeliveryTracker {
  private readonly marks = new Map<number, Map<number, SourceMark>>();
  private readonly last = new Map<number, number>();
  private sawHeaderless = false;

  /**
   * `floor`: source positions already delivered before this topic (the previous switch's L[p]);
   * they count as covered on every partition of this topic.
   */
  constructor(
    readonly floor: ReadonlyMap<number, SourceMark> = new Map(),
    /** The previous switch's H[p]: what may have been delivered before, carried to the next window. */
    readonly ceiling: ReadonlyMap<number, bigint> = new Map(),
  ) {}

  /** One delivered record of dataset partition `partition`. */
  record(partition: number, source: SourcePosition | null, timestamp: number): void {
    this.last.set(partition, timestamp);
    if (source === null) {
      this.sawHeaderless = true;
      return;
    }
    let byPartition = this.marks.get(partition);
    if (!byPartition) this.marks.set(partition, (byPartition = new Map()));
    const m = byPartition.get(source.partition);
    if (!m || source.offset > m.offset) byPartition.set(source.partition, { offset: source.offset, timestamp });
  }

  get headerless(): boolean {
    return this.sawHeaderless;
  }

  /** The input of planSwitch for these old partitions and their caught-up state. */
  partitions(caughtUp: ReadonlyMap<number, boolean>): OldPartition[] {
    const all = new Set([...caughtUp.keys(), ...this.marks.keys(), ...this.last.keys()]);
    return [...all].sort((a, b) => a - b).map((partition) => ({
      partition,
      caughtUp: caughtUp.get(partition) ?? false,
      marks: this.marks.get(partition) ?? new Map<number, SourceMark>(),
      lastTimestamp: this.last.get(partition) ?? null,
    }));
  }
}

export interface OldPartition {
  partition: number;
  /** Its position had reached the high watermark when the switch began. */
  caughtUp: boolean;
  /** Per source partition, the highest source offset delivered from it (M[q][p]). */
  marks: ReadonlyMap<number, SourceMark>;
  /** Timestamp of the last record delivered from it (the header-less fallback). */
  lastTimestamp: number | null;
  /**
   * For a partition that was behind, read ahead (not delivered) at the switch: per source partition,
   * its first record not delivered yet. Everything of that source partition before it was.
   */
  next?: ReadonlyMap<number, SourceMark>;
  /** The read-ahead reached the partition's end: source partitions absent from `next` have nothing left in it. */
  exhausted?: boolean;
}

export interface SwitchInput {
  /** Every partition of the old topic. */
  partitions: OldPartition[];
  /** Covered before the old topic was read (the previous switch's L). */
  floor: ReadonlyMap<number, SourceMark>;
  /** Possibly delivered before the old topic was read (the previous switch's H). */
  ceiling?: ReadonlyMap<number, bigint>;
  /** Some delivered record of the old topic had no source header. */
  headerless: boolean;
  /** Extra event time to go back when the position is not exactly known; null: go to the beginning instead. */
  lookbackMs: number | null;
  fromBeginning: boolean;
  /**
   * The source topic's partition count, when known. Source partitions are numbered from 0, so
   * every partition up to the highest one seen counts anyway; this adds the ones above it.
   */
  sourcePartitions?: number | null;
}

export type SwitchStart = { kind: 'beginning' } | { kind: 'end' } | { kind: 'timestamp'; timestamp: number };

export interface SwitchPlan {
  /** 'source': lined up by source position; 'event-time': old records had no source header, no dedup. */
  mode: 'source' | 'event-time';
  /** Where to start reading the new topic (before the margin). */
  start: SwitchStart;
  /** L[p]: delivered through this mark for certain; null when unknown (every record of p is delivered). */
  delivered: Map<number, SourceMark | null>;
  /** H[p]: nothing of p beyond this offset was delivered. */
  high: Map<number, bigint>;
}

function effective(q: OldPartition, floor: ReadonlyMap<number, SourceMark>, p: number): SourceMark | undefined {
  const own = q.marks.get(p);
  const base = floor.get(p);
  if (!own) return base;
  if (!base) return own;
  return own.offset >= base.offset ? own : base;
}

export function planSwitch(input: SwitchInput): SwitchPlan {
  const behind = input.partitions.filter((q) => !q.caughtUp);
  const nothingKnown: SwitchStart = behind.length > 0 || input.fromBeginning ? { kind: 'beginning' } : { kind: 'end' };

  if (input.headerless) {
    // Pure event time: back to the earliest "last delivered" timestamp, minus the lookback.
    const lasts = input.partitions.map((q) => q.lastTimestamp);
    const silentBehind = behind.some((q) => q.lastTimestamp === null);
    const known = lasts.filter((t): t is number => t !== null);
    const start: SwitchStart = silentBehind || known.length === 0 ? nothingKnown : { kind: 'timestamp', timestamp: Math.min(...known) - (input.lookbackMs ?? 0) };
    return { mode: 'event-time', start, delivered: new Map(), high: new Map() };
  }

  const sources = new Set<number>(input.floor.keys());
  for (const q of input.partitions) for (const p of q.marks.keys()) sources.add(p);
  // A source partition with nothing delivered must not be taken for "nothing to deliver": it is
  // unknown, so the new topic is read from where its records may be.
  const count = Math.max(sources.size ? Math.max(...sources) + 1 : 0, input.sourcePartitions ?? 0);
  for (let p = 0; p < count; p++) sources.add(p);

  const delivered = new Map<number, SourceMark | null>();
  const high = new Map<number, bigint>();
  for (const p of [...sources].sort((a, b) => a - b)) {
    let h: SourceMark | undefined;
    for (const q of input.partitions) {
      const m = effective(q, input.floor, p);
      if (m && (!h || m.offset > h.offset)) h = m;
    }
    if (!h) h = input.floor.get(p);
    // A record possibly delivered two versions ago and not met since stays possibly delivered.
    const before = input.ceiling?.get(p);
    const most = h && (before === undefined || h.offset >= before) ? h.offset : before;
    if (most !== undefined) high.set(p, most);
    if (behind.length === 0) {
      delivered.set(p, h ?? null);
      continue;
    }
    // Per behind partition, what it says about p: the record before its first undelivered one of p
    // (read ahead), nothing (read to its end without one), else its delivered mark; a behind
    // partition that never delivered p and was not read ahead far enough says "unknown".
    let low: SourceMark | null | undefined;
    let unknown = false;
    for (const q of behind) {
      const ahead = q.next?.get(p);
      let bound: SourceMark | undefined;
      if (ahead) bound = { offset: ahead.offset - 1n, timestamp: ahead.timestamp };
      else if (q.exhausted) continue;
      else bound = effective(q, input.floor, p);
      if (!bound) {
        unknown = true;
        break;
      }
      if (!low || bound.offset < low.offset) low = bound;
    }
    delivered.set(p, unknown ? null : (low ?? h ?? null));
  }

  if (sources.size === 0) return { mode: 'source', start: nothingKnown, delivered, high };
  const marks = [...delivered.values()];
  const known = marks.filter((m): m is SourceMark => m !== null);
  const lowest = known.length ? Math.min(...known.map((m) => m.timestamp)) : null;
  let start: SwitchStart;
  if (known.length === marks.length && lowest !== null) start = { kind: 'timestamp', timestamp: lowest };
  else if (input.lookbackMs !== null && lowest !== null) start = { kind: 'timestamp', timestamp: lowest - input.lookbackMs };
  else start = { kind: 'beginning' };
  return { mode: 'source', start, delivered, high };
}

/**
 * The source topic's partition count for a switch between these versions: the largest the catalog
 * recorded for any of them (DatasetVersion.source, written by the replay) or the reader's
 * `sourcePartitions` option; null when neither is known.
 */
export function knownSourcePartitions(record: Pick<DatasetRecord, 'versions'> | null, versions: readonly number[], option: number | null): number | null {
  let n = option ?? 0;
  for (const v of versions) n = Math.max(n, record?.versions.find((x) => x.version === v)?.source?.partitions ?? 0);
  return n > 0 ? n : null;
}

/** The skip rule on the new topic: deliver (p, o) iff o > L[p]; a record without a source header is always delivered. */
export function shouldDeliver(plan: SwitchPlan | null, source: SourcePosition | null): boolean {
  if (!plan || plan.mode !== 'source' || source === null) return true;
  const l = plan.delivered.get(source.partition);
  return !l || source.offset > l.offset;
}

/** A delivered record that may have been delivered before the switch too: L[p] < o ≤ H[p]. */
export function inDuplicateWindow(plan: SwitchPlan | null, source: SourcePosition | null): boolean {
  if (!plan || plan.mode !== 'source' || source === null) return false;
  const h = plan.high.get(source.partition);
  if (h === undefined || source.offset > h) return false;
  const l = plan.delivered.get(source.partition);
  return !l || source.offset > l.offset;
}

/** What counts as delivered on every partition of the new topic: the known L[p]. */
/** What may have been delivered, for the next switch's window: H[p]. */
export function ceilingAfter(plan: SwitchPlan): Map<number, bigint> {
  return new Map(plan.high);
}

export function floorAfter(plan: SwitchPlan): Map<number, SourceMark> {
  const out = new Map<number, SourceMark>();
  for (const [p, m] of plan.delivered) if (m) out.set(p, m);
  return out;
}
