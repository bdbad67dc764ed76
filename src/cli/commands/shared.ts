import type { SpecOverrides } from '../../core/index.js';
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
