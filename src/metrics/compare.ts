import { Counter, Gauge, type Registry } from 'prom-client';
import type { GateReport } from '../compare/core/index.js';

export interface CompareLabels {
  compareId: string;
  dataset: string;
  version: number;
  baseline: number;
}

const GATE = ['dataset', 'version', 'baseline'] as const;
type GateLabel = (typeof GATE)[number];
type DiffLabel = GateLabel | 'dimension' | 'value' | 'metric';

function instruments(registry: Registry) {
  return {
    info: new Gauge({ name: 'reprocess_compare_info', help: 'One series per comparison (value 1).', labelNames: ['compare_id', ...GATE], registers: [registry] }),
    read: new Counter({ name: 'reprocess_compare_records_read_total', help: 'Records the aggregator read and applied, by side (live, candidate).', labelNames: ['compare_id', ...GATE, 'side'], registers: [registry] }),
    gate: new Gauge({ name: 'reprocess_gate_status', help: 'The validation gate: 1 passed, 0 failed, -1 pending (comparison still running).', labelNames: GATE, registers: [registry] }),
    failures: new Gauge({ name: 'reprocess_gate_failures', help: 'Failing totals and dimensions in the latest evaluation (provisional while the comparison runs).', labelNames: GATE, registers: [registry] }),
    passing: new Gauge({ name: 'reprocess_gate_dimension_passing_ratio', help: 'Share of a dimension\'s values within tolerance or explained (the gate needs validate.quorum).', labelNames: [...GATE, 'dimension'], registers: [registry] }),
    totals: new Gauge({ name: 'reprocess_compare_total_difference_ratio', help: 'Relative difference of a total (count, a measure\'s sum, a null rate) between candidate and live; +Inf when live is 0.', labelNames: [...GATE, 'metric'], registers: [registry] }),
    diffs: new Gauge({ name: 'reprocess_compare_difference_ratio', help: 'Relative difference per dimension value and metric, for the worst values of each dimension only (bounded); +Inf when only one side has the value.', labelNames: [...GATE, 'dimension', 'value', 'metric'], registers: [registry] }),
  };
}

type Instruments = ReturnType<typeof instruments>;
const byRegistry = new WeakMap<Registry, Instruments>();

/** How many values per dimension the difference gauge carries (the report's worst list is 10). */
export const WORST_VALUES = 10;

/** The aggregator's metrics: records read per side, the gate and the largest differences. */
export class CompareMetrics {
  private readonly m: Instruments;
  private readonly gateLabels: Record<GateLabel, string>;
  private readonly compareId: string;
  private shown: Record<DiffLabel, string>[] = [];

  constructor(registry: Registry, labels: CompareLabels) {
    let m = byRegistry.get(registry);
    if (!m) {
      m = instruments(registry);
      byRegistry.set(registry, m);
    }
    this.m = m;
    this.compareId = labels.compareId;
    this.gateLabels = { dataset: labels.dataset, version: String(labels.version), baseline: String(labels.baseline) };
    m.info.set({ compare_id: labels.compareId, ...this.gateLabels }, 1);
    for (const side of ['live', 'candidate']) m.read.inc({ compare_id: labels.compareId, ...this.gateLabels, side }, 0);
    m.gate.set(this.gateLabels, -1);
  }

  read(side: 'live' | 'candidate', records: number): void {
    this.m.read.inc({ compare_id: this.compareId, ...this.gateLabels, side }, records);
  }

  /** A gate evaluation: provisional ones (final false) leave the status pending. */
  report(report: GateReport, final: boolean): void {
    const m = this.m;
    const g = this.gateLabels;
    if (final) m.gate.set(g, report.passed ? 1 : 0);
    m.failures.set(g, report.failures.length);
    for (const t of report.totals) m.totals.set({ ...g, metric: t.metric }, t.relDiff ?? Infinity);
    const next: Record<DiffLabel, string>[] = [];
    for (const d of report.dimensions) {
      m.passing.set({ ...g, dimension: d.dimension }, d.passingShare);
      for (const w of d.worst.slice(0, WORST_VALUES)) {
        const l = { ...g, dimension: d.dimension, value: w.value, metric: w.metric };
        m.diffs.set(l, w.relDiff ?? Infinity);
        next.push(l);
      }
    }
    // Values that left the worst list leave the gauge, so its label set stays bounded.
    const keep = new Set(next.map((l) => JSON.stringify(l)));
    for (const l of this.shown) if (!keep.has(JSON.stringify(l))) m.diffs.remove(l);
    this.shown = next;
  }
}
