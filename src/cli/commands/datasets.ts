import { Catalog, actor, promote, rollback, type DatasetRecord } from '../../catalog/index.js';
import { ReprocessError } from '../../errors.js';
import { EXIT, table, type Command } from '../command.js';
import { openServices } from '../services.js';

function shape(r: DatasetRecord): Record<string, unknown> {
  return {
    dataset: r.dataset,
    live: r.live,
    revision: r.revision,
    versions: r.versions.map((v) => ({ version: v.version, topic: v.topic, state: v.state, run: v.run, runState: v.runState, gate: v.gate, report: v.report, source: v.source ?? null, updatedAt: v.updatedAt })),
    history: r.history,
  };
}

function render(r: DatasetRecord): string {
  let out = `${r.dataset}: live ${r.live === null ? 'none yet' : `v${r.live} (${r.dataset}_v${r.live})`}\n\n`;
  out += table(['VERSION', 'TOPIC', 'STATE', 'RUN', 'RUN STATE', 'GATE'], r.versions.map((v) => [`v${v.version}`, v.topic, v.state, v.run ?? '-', v.runState ?? '-', v.gate ?? '-']));
  if (r.history.length) {
    out += '\n' + table(['WHEN', 'ACTION', 'FROM', 'TO', 'BY', 'RUN', 'FORCED', 'REASON'], r.history.map((h) => [h.at, h.action, h.from === null ? '-' : `v${h.from}`, `v${h.to}`, h.by, h.run ?? '-', h.forced ? 'yes' : 'no', h.reason ?? '-']));
  }
  return out;
}

export const datasetsCommand: Command = {
  name: 'datasets',
  summary: 'List datasets, their versions and states, the live version and the promotion history.',
  usage: 'reprocess datasets [<dataset>] [--json]',
  description: `The catalog lives in the compacted topic _reprocess_catalog (the source of truth: it survives a Redis flush).`,
  options: { json: { type: 'boolean', description: 'Print JSON: with a dataset, one object {dataset, live, versions, history}.' } },
  examples: ['reprocess datasets', 'reprocess datasets user_engagement --json'],
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const services = openServices(io.env, logger());
    try {
      const catalog = new Catalog(services.kafka);
      const name = positionals[0];
      if (name !== undefined) {
        const r = await catalog.get(name);
        if (!r) throw new ReprocessError('DATASET_NOT_FOUND', `the catalog has no dataset "${name}".`, { hint: 'List them with `reprocess datasets`; a dataset appears when a replay first writes one of its versions.' });
        io.stdout(values.json ? JSON.stringify(shape(r), null, 2) + '\n' : render(r));
        return EXIT.OK;
      }
      const all = [...(await catalog.readAll()).values()].sort((a, b) => a.dataset.localeCompare(b.dataset));
      if (values.json) io.stdout(JSON.stringify({ datasets: all.map(shape) }, null, 2) + '\n');
      else if (all.length === 0) io.stdout('No datasets yet: a replay adds its dataset and version to the catalog.\n');
      else io.stdout(table(['DATASET', 'LIVE', 'VERSIONS', 'LAST CHANGE'], all.map((r) => [r.dataset, r.live === null ? '-' : `v${r.live}`, r.versions.map((v) => `v${v.version}:${v.state}`).join(' '), r.history[r.history.length - 1]?.at ?? '-'])));
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};

const WHO = {
  by: { type: 'string', valueName: 'who', description: 'Who is acting, for the history.', defaultText: '$REPROCESS_USER or user@host' },
  reason: { type: 'string', valueName: 'text', description: 'Why, for the history (required with --force).' },
} as const;

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'Make a dataset version live, atomically (only if its run completed and its gate passed).',
  usage: 'reprocess promote <dataset> <version> [--force --reason "…"] [--by who]',
  description: [
    'Switches the dataset\'s live pointer in one catalog record: readers see the old version or the new',
    'one, never a mix. Refused (exit 3, with the reason) unless the version\'s run completed and its',
    'comparison gate against the live version passed; the first version of a dataset needs only a',
    'completed run. --force overrides and is recorded as forced. Promoting the live version does nothing.',
  ].join('\n'),
  options: {
    force: { type: 'boolean', description: 'Promote even though the rules say no (recorded).' },
    ...WHO,
  },
  examples: ['reprocess promote user_engagement 3', 'reprocess promote user_engagement 3 --force --reason "gate skipped: hotfix for incident 4711"'],
  minPositionals: 2,
  maxPositionals: 2,
  async run({ positionals, values, io, logger }) {
    const [dataset = '', raw = ''] = positionals;
    const version = Number(raw.replace(/^v/, ''));
    if (!Number.isInteger(version) || version < 1) throw new ReprocessError('USAGE', `version must be a positive integer like 3 (or v3), got "${raw}".`);
    const services = openServices(io.env, logger());
    try {
      const catalog = new Catalog(services.kafka);
      if (!(await catalog.get(dataset))) throw new ReprocessError('DATASET_NOT_FOUND', `the catalog has no dataset "${dataset}".`, { hint: 'List them with `reprocess datasets`.' });
      const by = actor(typeof values.by === 'string' ? values.by : undefined, io.env);
      let noop = false;
      const after = await catalog.update(dataset, (current) => {
        const next = promote(current, version, { by, force: values.force === true, reason: typeof values.reason === 'string' ? values.reason : null });
        noop = next === null;
        return next;
      });
      io.stdout(noop ? `${dataset} v${version} is already live; nothing changed.\n` : `${dataset}: live is now v${after.live} (${dataset}_v${after.live}).\n`);
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'Point a dataset back to the version that was live before, atomically.',
  usage: 'reprocess rollback <dataset> [--reason "…"] [--by who]',
  options: { ...WHO },
  examples: ['reprocess rollback user_engagement --reason "v3 dashboards show empty segments"'],
  minPositionals: 1,
  maxPositionals: 1,
  async run({ positionals, values, io, logger }) {
    const dataset = positionals[0] ?? '';
    const services = openServices(io.env, logger());
    try {
      const catalog = new Catalog(services.kafka);
      if (!(await catalog.get(dataset))) throw new ReprocessError('DATASET_NOT_FOUND', `the catalog has no dataset "${dataset}".`, { hint: 'List them with `reprocess datasets`.' });
      const by = actor(typeof values.by === 'string' ? values.by : undefined, io.env);
      const after = await catalog.update(dataset, (current) => rollback(current, { by, reason: typeof values.reason === 'string' ? values.reason : null }));
      io.stdout(`${dataset}: rolled back; live is now v${after.live} (${dataset}_v${after.live}).\n`);
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};
