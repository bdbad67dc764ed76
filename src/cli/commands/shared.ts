import { promote, type Catalog } from '../../catalog/index.js';
import type { JobSpec, SpecOverrides } from '../../core/index.js';
import { isReprocessError } from '../../errors.js';
import type { CommandContext, OptionSpec } from '../command.js';

export const WINDOW_OPTIONS: Record<string, OptionSpec> = {
  from: { type: 'string', valueName: 'T', description: 'Window start, overriding source.from: ISO-8601 time or a JSON offset map.', defaultText: 'source.from' },
  to: { type: 'string', valueName: 'T', description: 'Window end (exclusive), overriding source.to; same two forms.', defaultText: 'source.to' },
};

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
