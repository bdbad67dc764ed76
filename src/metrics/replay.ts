import { Counter, Gauge, type Registry } from 'prom-client';
import type { DecodeFailureReason } from '../core/decode-error.js';

/** Every DLQ stage, so the series exist (at 0) from the start and dashboards show a flat line, not "no data". */
export const DLQ_STAGES = ['decode', 'upcast', 'transform', 'encode'] as const;
export type DlqStage = (typeof DLQ_STAGES)[number];

export interface RunLabels {
  runId: string;
  dataset: string;
  version: number;
  workerId: string;
  sourceTopic: string;
  sinkTopic: string;
}

/** What one committed chunk did, reported once its transaction (or offset commit) succeeded. */
export interface ChunkTally {
  read: number;
  readBytes: number;
  written: number;
  writtenBytes: number;
  filtered: number;
  dlq: Partial<Record<DlqStage, number>>;
  /** "<schema version>|<reason>" → records. */
  decodeErrors: Map<string, number>;
}

export function newTally(): ChunkTally {
  return { read: 0, readBytes: 0, written: 0, writtenBytes: 0, filtered: 0, dlq: {}, decodeErrors: new Map() };
}

/** A schema version as a label: small positive integers as themselves, anything else "unknown" (bounded). */
export function versionLabel(version: unknown): string {
  const n = typeof version === 'string' ? Number(version) : version;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 999 ? String(n) : 'unknown';
}

export function tallyDecodeError(t: ChunkTally, version: unknown, reason: DecodeFailureReason): void {
  const k = `${versionLabel(version)}|${reason}`;
  t.decodeErrors.set(k, (t.decodeErrors.get(k) ?? 0) + 1);
}

export interface PartitionProgressView {
  partition: number;
  /** Records of the partition's range. */
  records: number;
  /** Records of the range already committed (by any worker). */
  done: number;
}

/** Decode failures of records whose schema version cannot be known (the wire header or the body is unreadable). */
const UNVERSIONED_REASONS: readonly DecodeFailureReason[] = ['null-value', 'bad-magic', 'truncated', 'unknown-schema-id', 'bad-body'];

const RUN = ['run_id', 'dataset', 'version'] as const;
const PART = [...RUN, 'partition'] as const;

function instruments(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  return {
    info: gauge('reprocess_run_info', 'One series per replay worker and run: its topics and worker id (value 1).', [...RUN, 'worker_id', 'source_topic', 'sink_topic']),
    read: counter('reprocess_records_read_total', 'Source records processed and committed by this worker.', PART),
    readBytes: counter('reprocess_bytes_read_total', 'Bytes (key + value) of the source records processed and committed by this worker.', PART),
    written: counter('reprocess_records_written_total', 'Records this worker committed to the dataset version topic.', PART),
    writtenBytes: counter('reprocess_bytes_written_total', 'Bytes (key + value) this worker committed to the dataset version topic.', PART),
    filtered: counter('reprocess_records_filtered_total', 'Source records the transform dropped (returned null).', PART),
    dlq: counter('reprocess_records_dlq_total', 'Source records sent to the dead-letter topic, by the stage that failed.', [...PART, 'stage']),
    decodeErrors: counter('reprocess_decode_errors_total', 'Records that could not be decoded or upcast, by schema version ("unknown" when unreadable) and reason.', [...RUN, 'schema_version', 'reason']),
    transactions: counter('reprocess_transactions_total', 'Kafka transactions of this worker by outcome (committed, aborted).', [...RUN, 'outcome']),
    throttleWait: counter('reprocess_throttle_wait_seconds_total', 'Time spent waiting for rate-limit tokens.', RUN),
    throttleWaited: counter('reprocess_throttle_waited_records_total', 'Records (tokens) that had to wait for the rate limit before being processed.', RUN),
    rateLimit: gauge('reprocess_rate_limit_records_per_second', "The run's current rate limit in records/s (adaptive back-off included); -1 when unlimited.", RUN),
    progressRatio: gauge('reprocess_partition_progress_ratio', "Share of the partition's planned range that is committed (0..1), for the whole run.", PART),
    remaining: gauge('reprocess_partition_remaining_records', "Records of the partition's planned range not yet committed: the lag to the window's end.", PART),
    runProgress: gauge('reprocess_run_progress_ratio', "Share of the run's planned records committed (0..1), across all workers.", RUN),
    runRemaining: gauge('reprocess_run_remaining_records', 'Planned records of the run not yet committed, across all workers.', RUN),
    eta: gauge('reprocess_run_eta_seconds', "Estimated seconds until the run completes, from the last 30 s of the run's progress; 0 when done, -1 when unknown.", RUN),
    rate: gauge('reprocess_run_progress_records_per_second', 'Records per second the whole run committed over the last 30 s.', RUN),
    completed: gauge('reprocess_run_completed', '1 once every partition of the run is committed to its end.', RUN),
  };
}

type Instruments = ReturnType<typeof instruments>;
const byRegistry = new WeakMap<Registry, Instruments>();
/**
 * The replay worker's metrics for one run. Counters count only what committed (so
 * `records_written_total` equals the records this process added to the sink) and start at zero in
 * each process: a restarted worker is a counter reset, which rate() and increase() handle, never
 * a double count. Progress gauges come from the committed offsets of the whole run, so every
 * worker reports the same values (dashboards take max by partition).
 */
export class ReplayMetrics {
  private readonly base: Record<(typeof RUN)[number], string>;
  private readonly m: Instruments;
  /** (time, done records) samples over the last 30 s, for the run's progress rate and ETA. */
  private samples: { at: number; done: number }[] = [];

  constructor(registry: Registry, labels: RunLabels) {
    this.base = { run_id: labels.runId, dataset: labels.dataset, version: String(labels.version) };
    let m = byRegistry.get(registry);
    if (!m) {
      m = instruments(registry);
      byRegistry.set(registry, m);
    }
    this.m = m;
    m.info.set({ ...this.base, worker_id: labels.workerId, source_topic: labels.sourceTopic, sink_topic: labels.sinkTopic }, 1);
    for (const outcome of ['committed', 'aborted']) m.transactions.inc({ ...this.base, outcome }, 0);
    m.throttleWait.inc(this.base, 0);
    m.throttleWaited.inc(this.base, 0);
    // Failures before a schema is known have no version: their series exist from the start.
    for (const reason of UNVERSIONED_REASONS) m.decodeErrors.inc({ ...this.base, schema_version: 'unknown', reason }, 0);
    m.eta.set(this.base, -1);
    m.completed.set(this.base, 0);
  }

  /** Creates every per-partition series at zero, so a quiet partition still shows on the dashboards. */
  partitions(partitions: number[]): void {
    const m = this.m;
    for (const p of partitions) {
      const l = { ...this.base, partition: String(p) };
      for (const c of [m.read, m.readBytes, m.written, m.writtenBytes, m.filtered]) c.inc(l, 0);
      for (const stage of DLQ_STAGES) m.dlq.inc({ ...l, stage }, 0);
    }
  }

  committed(partition: number, t: ChunkTally): void {
    const m = this.m;
    const l = { ...this.base, partition: String(partition) };
    m.read.inc(l, t.read);
    m.readBytes.inc(l, t.readBytes);
    m.written.inc(l, t.written);
    m.writtenBytes.inc(l, t.writtenBytes);
    if (t.filtered) m.filtered.inc(l, t.filtered);
    for (const [stage, n] of Object.entries(t.dlq)) if (n) m.dlq.inc({ ...l, stage }, n);
    for (const [k, n] of t.decodeErrors) {
      const [schemaVersion = 'unknown', reason = 'unknown'] = k.split('|');
      m.decodeErrors.inc({ ...this.base, schema_version: schemaVersion, reason }, n);
    }
  }

  transaction(outcome: 'committed' | 'aborted'): void {
    this.m.transactions.inc({ ...this.base, outcome });
  }

  throttled(waitMs: number, records: number): void {
    if (waitMs <= 0) return;
    this.m.throttleWait.inc(this.base, waitMs / 1000);
    this.m.throttleWaited.inc(this.base, records);
  }

  /** Called with each progress snapshot (about twice a second). */
  progress(partitions: PartitionProgressView[], rateLimit: number | null, now = Date.now()): void {
    const m = this.m;
    let total = 0;
    let done = 0;
    for (const p of partitions) {
      const l = { ...this.base, partition: String(p.partition) };
      m.progressRatio.set(l, p.records === 0 ? 1 : p.done / p.records);
      m.remaining.set(l, p.records - p.done);
      total += p.records;
      done += p.done;
    }
    m.runProgress.set(this.base, total === 0 ? 1 : done / total);
    m.runRemaining.set(this.base, total - done);
    m.rateLimit.set(this.base, rateLimit ?? -1);
    this.samples.push({ at: now, done });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - 30_000) this.samples.shift();
    const first = this.samples[0];
    const perSec = first && now > first.at ? ((done - first.done) * 1000) / (now - first.at) : 0;
    m.rate.set(this.base, perSec);
    m.eta.set(this.base, total - done <= 0 ? 0 : perSec > 0 ? (total - done) / perSec : -1);
    m.completed.set(this.base, total - done <= 0 ? 1 : 0);
  }
}
