/** Every Redis key the project uses is built here, under one prefix. */
const PREFIX = 'reprocess';

export const keys = {
  /** Hash: the run's description and state. */
  run: (runId: string) => `${PREFIX}:run:${runId}`,
  /** Hash: partition → JSON progress of that partition. */
  runPartitions: (runId: string) => `${PREFIX}:run:${runId}:partitions`,
  /** Hash: worker id → JSON heartbeat (host, pid, partitions, at). */
  runWorkers: (runId: string) => `${PREFIX}:run:${runId}:workers`,
  /** Sorted set of run ids by start time. */
  runs: () => `${PREFIX}:runs`,
  /** String: the run id that owns a sink topic. */
  sinkOwner: (topic: string) => `${PREFIX}:sink-owner:${topic}`,
  /** Hash: one side's comparison counters (count, buckets, nulls, dimension values, sums). */
  compareCounters: (compareId: string, side: 'live' | 'candidate') => `${PREFIX}:compare:${compareId}:${side}:counters`,
  /** Hash: record key → records, for one side. */
  compareKeys: (compareId: string, side: 'live' | 'candidate') => `${PREFIX}:compare:${compareId}:${side}:keys`,
  /** Hash: "<topic>:<partition>" → next offset, moved with each applied batch. */
  compareOffsets: (compareId: string) => `${PREFIX}:compare:${compareId}:offsets`,
  /** Hash: the comparison's description (versions, window, end offsets). */
  compare: (compareId: string) => `${PREFIX}:compare:${compareId}`,
  /** Hash: the run's token bucket (tokens, last refill, rate). */
  bucket: (runId: string) => `${PREFIX}:run:${runId}:bucket`,
};
