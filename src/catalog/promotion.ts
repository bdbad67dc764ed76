import { ReprocessError } from '../errors.js';
import type { DatasetRecord, DatasetVersion, HistoryEntry } from './catalog.js';

export interface PromoteOptions {
  by: string;
  force?: boolean;
  reason?: string | null;
}

/** Why a version may not become live, or null when it may. Pure: the rules in one place. */
export function promotionBlocker(record: DatasetRecord, v: DatasetVersion | undefined): string | null {
  if (!v) return 'the catalog has no such version: no run ever wrote it';
  if (v.runState !== 'completed') {
    return `its run ${v.run ?? '(unknown)'} has not completed (run state: ${v.runState ?? 'unknown'}); finish it with \`reprocess replay <job> --run-id ${v.run ?? '<id>'}\``;
  }
  // The first version has nothing to be compared with.
  if (record.live === null) return null;
  if (v.gate === 'passed') return null;
  if (v.gate === 'failed') return `its comparison with the live v${record.live} failed the validation gate${v.report ? ` (report: ${v.report})` : ''}`;
  return `it has not been compared with the live v${record.live}: no validation gate result`;
}

/** The record after promoting `version`, or null when it is already live (a no-op). Throws NOT_PROMOTABLE. */
export function promote(record: DatasetRecord, version: number, o: PromoteOptions): DatasetRecord | null {
  if (record.live === version) return null;
  const target = record.versions.find((v) => v.version === version);
  if (!target) {
    throw new ReprocessError('NOT_PROMOTABLE', `${record.dataset} v${version} cannot be promoted: the catalog has no such version (known: ${record.versions.map((v) => `v${v.version}`).join(', ') || 'none'}).`, {
      hint: 'Replay it first: `reprocess replay <job.yaml>`.',
      context: { dataset: record.dataset, version },
    });
  }
  const blocker = promotionBlocker(record, target);
  if (blocker && !o.force) {
    throw new ReprocessError('NOT_PROMOTABLE', `${record.dataset} v${version} cannot be promoted: ${blocker}.`, {
      hint: `Override with --force --reason "why" (recorded in the history), or fix the cause.`,
      context: { dataset: record.dataset, version },
    });
  }
  if (o.force && !o.reason) {
    throw new ReprocessError('USAGE', '--force needs --reason "…": the history records why the rules were overridden.');
  }
  return switchLive(record, version, { action: 'promote', by: o.by, forced: Boolean(o.force && blocker), reason: o.reason ?? null });
}

/** Moves the live pointer to `to` (the old live version retires) and appends the history entry. */
function switchLive(record: DatasetRecord, to: number, e: Pick<HistoryEntry, 'action' | 'by' | 'forced' | 'reason'>): DatasetRecord {
  const at = new Date().toISOString();
  const target = record.versions.find((v) => v.version === to);
  const entry: HistoryEntry = { ...e, from: record.live, to, at, run: target?.run ?? null, report: target?.report ?? null };
  return {
    ...record,
    live: to,
    versions: record.versions.map((v) =>
      v.version === to ? { ...v, state: 'live', updatedAt: at } : v.version === record.live ? { ...v, state: 'retired', updatedAt: at } : v),
    history: [...record.history, entry],
  };
}

/** The record after pointing back to the version that was live before the current one. */
export function rollback(record: DatasetRecord, o: { by: string; reason?: string | null }): DatasetRecord {
  if (record.live === null) {
    throw new ReprocessError('NOT_PROMOTABLE', `${record.dataset} has no live version to roll back from.`, { context: { dataset: record.dataset } });
  }
  const last = [...record.history].reverse().find((h) => h.to === record.live);
  const previous = last?.from ?? null;
  if (previous === null) {
    throw new ReprocessError('NOT_PROMOTABLE', `${record.dataset} v${record.live} is the first version that was ever live: there is nothing to roll back to.`, {
      context: { dataset: record.dataset },
    });
  }
  return switchLive(record, previous, { action: 'rollback', by: o.by, forced: false, reason: o.reason ?? null });
}
