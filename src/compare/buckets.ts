import type { Redis } from 'ioredis';
import type { JobSpec } from '../core/index.js';
import type { KafkaClient } from '../kafka/index.js';
import type { Logger } from '../log.js';
import { keys as redisKeys } from '../redis/keys.js';
import { consumerGroupFor } from '../replay/engine.js';
import { RunStore } from '../runs/store.js';
import { bucketField } from './counter.js';
import { judgeBucket, relativeDifference, type BucketJudgement } from './core/index.js';

export interface BucketVerdict {
  start: number;
  old: number;
  new: number;
  judgement: BucketJudgement;
}

/**
 * For a comparison that follows a running replay: judges each time bucket as soon as it is
 * finished — the replay's committed offsets have passed the bucket's end in every source
 * partition, the aggregator has read the candidate that far, and the live version is read whole.
 * With validate.abortOnFailure, a bucket that differs by more than tolerance × abortFactor stops
 * the replay (through its run record), with the reason.
 */
export class BucketJudge {
  private next: number;
  readonly verdicts: BucketVerdict[] = [];
  private aborted = false;

  constructor(
    private readonly o: { spec: JobSpec; compareId: string; kafka: KafkaClient; redis: Redis; logger: Logger; liveTopic: string },
  ) {
    const w = o.spec.window;
    this.next = w.kind === 'time' ? Math.floor(w.fromMs / o.spec.validate.bucketMs) * o.spec.validate.bucketMs : Infinity;
  }

  private async readThrough(topic: string): Promise<boolean> {
    const admin = await this.o.kafka.admin();
    const offsets = await this.o.redis.hgetall(redisKeys.compareOffsets(this.o.compareId));
    return (await admin.watermarks(topic)).every((m) => BigInt(offsets[`${topic}:${m.partition}`] ?? '0') >= BigInt(m.high));
  }

  /** Judges what became judgeable since the last call. */
  async check(runId: string | null): Promise<void> {
    const { spec } = this.o;
    if (spec.window.kind !== 'time' || runId === null || this.aborted) return;
    const toMs = spec.window.toMs;
    const b = spec.validate.bucketMs;
    const admin = await this.o.kafka.admin();
    if (!(await this.readThrough(this.o.liveTopic))) return;
    const store = new RunStore(this.o.redis);
    const ranges = new Map((await store.partitions(runId)).map((p) => [p.partition, BigInt(p.end)]));
    // The run has not recorded its ranges yet: nothing can be finished.
    if (ranges.size === 0) return;
    const committed = new Map((await admin.committedOffsets(consumerGroupFor(runId), spec.source.topic)).map((c) => [c.partition, c.offset === null ? null : BigInt(c.offset)]));
    // The candidate as far as the replay had committed when we looked.
    const candidateRead = await this.readThrough(spec.sinkTopic);
    if (!candidateRead) return;
    while (this.next < toMs) {
      const end = Math.min(this.next + b, toMs);
      const lookups = await admin.offsetsForTimestamp(spec.source.topic, end);
      const finished = [...ranges].every(([p, rangeEnd]) => {
        const at = lookups.find((l) => l.partition === p)?.offset;
        const needed = at === null || at === undefined ? rangeEnd : BigInt(at) < rangeEnd ? BigInt(at) : rangeEnd;
        return (committed.get(p) ?? 0n) >= needed;
      });
      if (!finished) return;
      const field = bucketField(this.next);
      const [oldRaw, newRaw] = await Promise.all([
        this.o.redis.hget(redisKeys.compareCounters(this.o.compareId, 'live'), field),
        this.o.redis.hget(redisKeys.compareCounters(this.o.compareId, 'candidate'), field),
      ]);
      const verdict: BucketVerdict = { start: this.next, old: Number(oldRaw ?? 0), new: Number(newRaw ?? 0), judgement: judgeBucket(Number(oldRaw ?? 0), Number(newRaw ?? 0), spec.validate.tolerance, spec.validate.abortFactor) };
      this.verdicts.push(verdict);
      this.next += b;
      if (verdict.judgement !== 'pass') {
        const diff = relativeDifference(verdict.old, verdict.new);
        const pct = Number.isFinite(diff) ? `${(diff * 100).toFixed(2)}%` : 'a value missing on one side';
        const reason = `bucket ${new Date(verdict.start).toISOString()} has ${verdict.new} records in v${spec.version} against ${verdict.old} in the live version (${pct}; tolerance ${(spec.validate.tolerance * 100).toFixed(2)}%, abort above ${(spec.validate.tolerance * spec.validate.abortFactor * 100).toFixed(2)}%)`;
        this.o.logger.warn({ bucket: new Date(verdict.start).toISOString(), old: verdict.old, new: verdict.new, judgement: verdict.judgement }, 'a finished bucket differs beyond tolerance');
        if (verdict.judgement === 'abort' && spec.validate.abortOnFailure) {
          await store.requestAbort(runId, reason);
          this.aborted = true;
          return;
        }
      }
    }
  }
}
