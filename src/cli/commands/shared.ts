import { join } from 'node:path';
import { Catalog, promote } from '../../catalog/index.js';
import { renderTable, type GateReport } from '../../compare/core/index.js';
import { compareVersions } from '../../compare/run.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { Services } from '../services.js';
import type { JobSpec, SpecOverrides } from '../../core/index.js';
import { ReprocessError, isReprocessError } from '../../errors.js';
import type { CommandContext, OptionSpec } from '../command.js';

export const WINDOW_OPTIONS: Record<string, OptionSpec> = {
  from: { type: 'string', valueName: 'T', description: 'Window start, overriding source.from: ISO-8601 time or a JSON offset map.', defaultText: 'source.from' },
  to: { type: 'string', valueName: 'T', description: 'Window end (exclusive), overriding source.to; same two forms.', defaultText: 'source.to' },
};

/** --run-id, or `fallback()` when not given; one check of what a run id may hold. */
export function runIdOption(values: CommandContext['values'], fallback: () => string): string {
  const id = typeof values['run-id'] === 'string' ? values['run-id'] : fallback();
  if (!/^[A-Za-z0-9._-]{1,120}$/.test(id)) {
    throw new ReprocessError('USAGE', `--run-id "${id}" may only hold letters, digits, '.', '_' and '-' (at most 120).`);
  }
  return id;
}

/** A --threads value: a whole number of threads, 0-99 (`hint` says what the command's threads do). */
export function threadsOption(raw: string, hint: string): number {
  if (!/^\d{1,2}$/.test(raw.trim())) throw new ReprocessError('USAGE', `--threads "${raw}" is not a number of threads (0-99).`, { hint });
  return Number(raw);
}

export function specOverrides(values: CommandContext['values']): SpecOverrides {
  const o: SpecOverrides = {};
  if (typeof values.from === 'string') o.from = values.from;
  if (typeof values.to === 'string') o.to = values.to;
  if (typeof values.rate === 'string') o.rate = values.rate;
  return o;
}

/**
 * `promote: auto`: after a completed run, make its version live if the rules allow; otherwise leave
 * the live pointer alone and say why.
 */
export async function autoPromote(catalog: Catalog, spec: JobSpec, by: string): Promise<{ promoted: boolean; message: string }> {
  try {
    const after = await catalog.update(spec.dataset, (r) => promote(r, spec.version, { by }));
    return { promoted: true, message: `promote: auto — ${spec.dataset} v${spec.version} is live now (${spec.sinkTopic}); previous live: ${after.history[after.history.length - 1]?.from === null ? 'none' : `v${String(after.history[after.history.length - 1]?.from)}`}.` };
  } catch (err) {
    if (isReprocessError(err, 'NOT_PROMOTABLE')) return { promoted: false, message: `promote: auto — not promoted, the live pointer is unchanged: ${err.message}` };
    throw err;
  }
}

/**
 * What a replay with `promote: auto` does once its run completed: compare with the baseline when
 * there is one (validate.against or the live version), record the verdict, then promote if the
 * rules allow. Returns the lines to show.
 */
export async function finishAutoPromotion(o: {
  spec: JobSpec;
  runId: string;
  services: Services;
  catalog: Catalog;
  logger: Logger;
  signal: AbortSignal;
  by: string;
  reportDir: string;
  metrics?: Registry;
}): Promise<{ promoted: boolean; lines: string[]; report: GateReport | null; htmlPath: string | null }> {
  const { catalog } = o;
  const lines: string[] = [];
  let report: GateReport | null = null;
  let htmlPath: string | null = null;
  const live = await catalog.liveVersion(o.spec.dataset);
  if ((live !== null && live !== o.spec.version) || o.spec.validate.against !== null) {
    const compareId = `${o.runId}-compare`;
    const result = await compareVersions({
      spec: o.spec, compareId, kafka: o.services.kafka, registry: o.services.registry, redis: await o.services.redis(), catalog,
      logger: o.logger, signal: o.signal, reportPath: join(o.reportDir, `${compareId}.json`), ...(o.metrics ? { metrics: o.metrics } : {}),
    });
    report = result.report;
    htmlPath = result.htmlPath;
    lines.push(renderTable(result.report).trimEnd(), `reports: ${result.reportPath ?? ''} and ${result.htmlPath ?? ''}`);
  }
  const promotion = await autoPromote(catalog, o.spec, o.by);
  lines.push(promotion.message);
  return { promoted: promotion.promoted, lines, report, htmlPath };
}
