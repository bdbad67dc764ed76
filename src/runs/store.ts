import type { Redis } from 'ioredis';
import { keys } from '../redis/keys.js';

export type RunState = 'planned' | 'running' | 'completed' | 'failed' | 'stopped';

export interface PartitionProgress {
  partition: number;
  start: string;
  end: string;
  /** Next offset to process, as committed with the last transaction. */
  position: string;
  read: number;
  written: number;
  dlq: number;
  filtered: number;
  worker: string | null;
  done: boolean;
}

export interface RunRecord {
  runId: string;
  dataset: string;
  version: number;
  sourceTopic: string;
  sinkTopic: string;
  dlqTopic: string;
  spec: string | null;
  state: RunState;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  totalRecords: number;
}

export interface WorkerHeartbeat {
  workerId: string;
  host: string;
  pid: number;
  partitions: number[];
  /** When the worker was given `partitions` (its last rebalance); absent in older heartbeats. */
  assignedAt?: string;
  at: string;
}

/**
 * Each partition on one worker only: the one given it last. Between a rebalance and a worker's
 * next heartbeat (or while it has yet to rejoin), a worker still lists what it held before, so
 * the old and the new owner can both list a partition; the newer assignment is the group's.
 */
export function resolveOwners(workers: WorkerHeartbeat[]): WorkerHeartbeat[] {
  const since = (w: WorkerHeartbeat): number => Date.parse(w.assignedAt ?? w.at);
  const owner = new Map<number, WorkerHeartbeat>();
  for (const w of workers) {
    for (const p of w.partitions) {
      const other = owner.get(p);
      if (other === undefined || since(w) > since(other)) owner.set(p, w);
    }
  }
  return workers.map((w) => ({ ...w, partitions: w.partitions.filter((p) => owner.get(p) === w) }));
}

/**
 * The run's shared description in Redis, for `status` and for every worker of the run. It is a
 * view: the source of truth for progress is the run's consumer group offsets in Kafka, which are
 * committed in the same transactions as the output. Losing Redis loses no data.
 */
export class RunStore {
  constructor(private readonly redis: Redis) {}

  async create(run: RunRecord, partitions: PartitionProgress[]): Promise<void> {
    const m = this.redis.multi();
    m.hset(keys.run(run.runId), serialize(run));
    for (const p of partitions) m.hsetnx(keys.runPartitions(run.runId), String(p.partition), JSON.stringify(p));
    m.zadd(keys.runs(), Date.parse(run.startedAt), run.runId);
    await m.exec();
  }

  async get(runId: string): Promise<RunRecord | null> {
    const h = await this.redis.hgetall(keys.run(runId));
    if (!h.runId) return null;
    return {
      runId: h.runId,
      dataset: h.dataset ?? '',
      version: Number(h.version),
      sourceTopic: h.sourceTopic ?? '',
      sinkTopic: h.sinkTopic ?? '',
      dlqTopic: h.dlqTopic ?? '',
      spec: h.spec || null,
      state: (h.state ?? 'planned') as RunState,
      startedAt: h.startedAt ?? '',
      finishedAt: h.finishedAt || null,
      error: h.error || null,
      totalRecords: Number(h.totalRecords ?? 0),
    };
  }

  async setState(runId: string, state: RunState, error?: string): Promise<void> {
    const fields: Record<string, string> = { state };
    if (state === 'completed' || state === 'failed' || state === 'stopped') fields.finishedAt = new Date().toISOString();
    if (state === 'running') fields.finishedAt = '';
    if (error !== undefined) fields.error = error;
    else if (state === 'running' || state === 'completed') fields.error = '';
    await this.redis.hset(keys.run(runId), fields);
  }

  async partitions(runId: string): Promise<PartitionProgress[]> {
    const h = await this.redis.hgetall(keys.runPartitions(runId));
    return Object.values(h).map((v) => JSON.parse(v) as PartitionProgress).sort((a, b) => a.partition - b.partition);
  }

  async savePartition(runId: string, p: PartitionProgress): Promise<void> {
    await this.redis.hset(keys.runPartitions(runId), String(p.partition), JSON.stringify(p));
  }

  async heartbeat(runId: string, hb: WorkerHeartbeat): Promise<void> {
    await this.redis.hset(keys.runWorkers(runId), hb.workerId, JSON.stringify(hb));
  }

  async removeWorker(runId: string, workerId: string): Promise<void> {
    await this.redis.hdel(keys.runWorkers(runId), workerId);
  }

  async workers(runId: string): Promise<WorkerHeartbeat[]> {
    const h = await this.redis.hgetall(keys.runWorkers(runId));
    return resolveOwners(Object.values(h).map((v) => JSON.parse(v) as WorkerHeartbeat));
  }

  /** Asks every worker of the run to stop (the early abort of a failing comparison); the reason is kept. */
  async requestAbort(runId: string, reason: string): Promise<void> {
    await this.redis.hset(keys.run(runId), { abortRequested: reason });
  }

  async abortRequested(runId: string): Promise<string | null> {
    return (await this.redis.hget(keys.run(runId), 'abortRequested')) || null;
  }

  async recent(limit = 20): Promise<string[]> {
    return this.redis.zrevrange(keys.runs(), 0, limit - 1);
  }

  /** Claims the sink for this run; returns the run that owns it (this one when the claim succeeded). */
  async claimSink(topic: string, runId: string): Promise<string> {
    const set = await this.redis.set(keys.sinkOwner(topic), runId, 'NX');
    if (set === 'OK') return runId;
    return (await this.redis.get(keys.sinkOwner(topic))) ?? runId;
  }
}

function serialize(run: RunRecord): Record<string, string> {
  return {
    runId: run.runId,
    dataset: run.dataset,
    version: String(run.version),
    sourceTopic: run.sourceTopic,
    sinkTopic: run.sinkTopic,
    dlqTopic: run.dlqTopic,
    spec: run.spec ?? '',
    state: run.state,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt ?? '',
    error: run.error ?? '',
    totalRecords: String(run.totalRecords),
  };
}
