import { planSummary, resolveOffsetWindow, resolveTimeWindow, type JobSpec, type PartitionRange, type PlanSummary, type TimeLookup } from '../core/index.js';
import { ReprocessError } from '../errors.js';
import type { KafkaAdmin, KafkaClient } from '../kafka/index.js';

export interface ReplayPlan {
  sourceTopic: string;
  sinkTopic: string;
  dlqTopic: string;
  sourcePartitions: number;
  /** Partition count the sink has or will be created with. */
  sinkPartitions: number;
  sinkExists: boolean;
  /** Offsets [start, end) per partition; end offsets are fixed here, so later appends are never replayed. */
  ranges: PartitionRange[];
  avgRecordBytes: number;
  avgRecordBytesSampled: boolean;
  summary: PlanSummary;
  window: { from: string; to: string };
}

export interface PlanOptions {
  /** The dataset's live version, when a catalog knows it; its topic is never a sink. */
  liveVersion?: number | null;
  /** Read a few records to estimate bytes per record (a short-lived consumer; writes nothing). */
  sampleBytes?: boolean;
}

const DEFAULT_RECORD_BYTES = 200;

function describeWindow(spec: JobSpec): { from: string; to: string } {
  const w = spec.window;
  if (w.kind === 'time') return { from: new Date(w.fromMs).toISOString(), to: new Date(w.toMs).toISOString() };
  return { from: JSON.stringify(w.from), to: JSON.stringify(w.to) };
}

/**
 * Resolves the job's window to offset ranges and checks everything that must hold before a
 * replay may write: the source exists, the window is retained and not empty of meaning, the sink
 * is a version topic and not the live one. Reads metadata only.
 */
export async function planReplay(spec: JobSpec, kafka: KafkaClient, options: PlanOptions = {}): Promise<ReplayPlan> {
  const admin = await kafka.admin();
  const topics = new Set(await admin.listTopics());
  if (!topics.has(spec.source.topic)) {
    const similar = [...topics].filter((t) => !t.startsWith('_') && (t.includes(spec.source.topic) || spec.source.topic.includes(t))).slice(0, 3);
    throw new ReprocessError('SOURCE_MISSING', `source topic "${spec.source.topic}" does not exist.`, {
      hint: similar.length ? `Did you mean ${similar.map((s) => `"${s}"`).join(' or ')}? Fix source.topic in the job spec.` : 'Fix source.topic in the job spec, or check KAFKA_BROKERS points at the right cluster.',
      context: { topic: spec.source.topic },
    });
  }
  if (!/_v[0-9]+$/.test(spec.sinkTopic) || spec.sinkTopic === spec.source.topic) {
    throw new ReprocessError('UNSAFE_SINK', `refusing to write to "${spec.sinkTopic}": a sink must be a dataset version topic <dataset>_v<N>, distinct from the source.`);
  }
  if (options.liveVersion !== undefined && options.liveVersion !== null && options.liveVersion === spec.version) {
    throw new ReprocessError('UNSAFE_SINK', `refusing to write to ${spec.sinkTopic}: version ${spec.version} is the live version of ${spec.dataset}, and readers are using it.`, {
      hint: `Write a new version instead (version: ${spec.version + 1}), or roll the dataset back first.`,
      context: { topic: spec.sinkTopic },
    });
  }

  const marks = await admin.watermarks(spec.source.topic);
  let ranges: PartitionRange[];
  if (spec.window.kind === 'time') {
    const { fromMs, toMs } = spec.window;
    const [from, to] = await Promise.all([admin.offsetsForTimestamp(spec.source.topic, fromMs), admin.offsetsForTimestamp(spec.source.topic, toMs)]);
    const lookups: TimeLookup[] = marks.map((m) => ({
      ...m,
      fromOffset: from.find((f) => f.partition === m.partition)?.offset ?? null,
      toOffset: to.find((t) => t.partition === m.partition)?.offset ?? null,
    }));
    // Records before the low watermark were deleted by retention. When the window starts at or before
    // the oldest retained record of a partition that lost records, part of the window is gone.
    const lost = lookups.filter((l) => BigInt(l.low) > 0n && l.fromOffset !== null && l.fromOffset === l.low && (l.toOffset === null || BigInt(l.toOffset) > BigInt(l.low)));
    if (lost.length > 0) {
      throw new ReprocessError('WINDOW_INVALID', `the window starts before the oldest retained record of ${spec.source.topic} partition${lost.length > 1 ? 's' : ''} ${lost.map((l) => l.partition).join(', ')}: records of the window were already deleted by retention (first retained offset${lost.length > 1 ? 's' : ''} ${lost.map((l) => `${l.partition}:${l.low}`).join(', ')}).`, {
        hint: 'Move source.from (or --from) later, or replay by offsets from the first retained offset if the loss is acceptable.',
        context: { topic: spec.source.topic },
      });
    }
    ranges = resolveTimeWindow(lookups);
  } else {
    ranges = resolveOffsetWindow(spec.window, marks, spec.source.topic);
  }

  const sinkExists = topics.has(spec.sinkTopic);
  const sinkPartitions = sinkExists ? await admin.partitionCount(spec.sinkTopic) : (spec.output.partitions ?? (await livePartitions(admin, spec, options.liveVersion, topics)) ?? marks.length);
  if (sinkExists && spec.output.partitions !== null && spec.output.partitions !== sinkPartitions) {
    throw new ReprocessError('UNSAFE_SINK', `${spec.sinkTopic} already exists with ${sinkPartitions} partitions, but output.partitions is ${spec.output.partitions}; keys would land in other partitions than its records so far.`, {
      hint: `Set output.partitions: ${sinkPartitions}, or write a new version.`,
      context: { topic: spec.sinkTopic },
    });
  }

  let avg = DEFAULT_RECORD_BYTES;
  let sampled = false;
  if (options.sampleBytes) {
    const measured = await sampleRecordBytes(kafka, spec.source.topic, ranges);
    if (measured !== null) {
      avg = measured;
      sampled = true;
    }
  }
  const rate = spec.rate ? { recordsPerSec: spec.rate.recordsPerSec, bytesPerSec: spec.rate.bytesPerSec } : null;
  return {
    sourceTopic: spec.source.topic,
    sinkTopic: spec.sinkTopic,
    dlqTopic: spec.dlqTopic,
    sourcePartitions: marks.length,
    sinkPartitions,
    sinkExists,
    ranges,
    avgRecordBytes: avg,
    avgRecordBytesSampled: sampled,
    summary: planSummary(ranges, avg, rate),
    window: describeWindow(spec),
  };
}

/** The live version's partition count, so keys keep their partition across versions. */
async function livePartitions(admin: KafkaAdmin, spec: JobSpec, live: number | null | undefined, topics: Set<string>): Promise<number | null> {
  if (live === undefined || live === null) return null;
  const topic = `${spec.dataset}_v${live}`;
  return topics.has(topic) ? admin.partitionCount(topic) : null;
}

/** Average value+key bytes of up to 200 records from the first non-empty range, or null. */
async function sampleRecordBytes(kafka: KafkaClient, topic: string, ranges: PartitionRange[]): Promise<number | null> {
  const target = ranges.find((r) => r.records > 0);
  if (!target) return null;
  const groupId = `reprocess-plan-${process.pid}-${Date.now()}`;
  const consumer = await kafka.consumer({ groupId, readCommitted: true, autoCommit: false });
  let total = 0;
  let n = 0;
  try {
    await consumer.subscribe([topic]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 8_000);
      let seeked = false;
      consumer
        .run({
          onAssignment: (assignment) => {
            if (!seeked && assignment.some((a) => a.partitions.includes(target.partition))) {
              seeked = true;
              consumer.seek(topic, target.partition, target.start);
            }
          },
          onBatch: async (batch) => {
            if (batch.partition !== target.partition) return;
            for (const r of batch.records) {
              if (BigInt(r.offset) >= BigInt(target.end) || n >= 200) break;
              total += (r.value?.length ?? 0) + (r.key?.length ?? 0);
              n++;
            }
            if (n >= 200 || BigInt(batch.nextOffset) >= BigInt(target.end)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.close();
    await (await kafka.admin()).deleteGroups([groupId]).catch(() => undefined);
  }
  return n > 0 ? total / n : null;
}
