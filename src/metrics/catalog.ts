import { Counter, Gauge, type Registry } from 'prom-client';
import type { Catalog } from '../catalog/index.js';
import type { Logger } from '../log.js';

const REFRESH_MS = 15_000;

/**
 * Exports the catalog's state for the datasets a process works on: the live version, promotions
 * and rollbacks (counted from the catalog's history, so they are right whichever process
 * promoted) and each version's state. Refreshed in the background when scraped, at most every
 * 15 s; once per registry.
 */
export function catalogMetrics(registry: Registry, catalog: Catalog, datasets: string[], logger?: Logger): void {
  const live = new Gauge({ name: 'reprocess_dataset_live_version', help: 'The version the dataset\'s live pointer names (0 before the first promotion).', labelNames: ['dataset'], registers: [registry] });
  const promotions = new Counter({ name: 'reprocess_promotions_total', help: 'Promotions in the dataset\'s catalog history, forced or not.', labelNames: ['dataset', 'forced'], registers: [registry] });
  const rollbacks = new Counter({ name: 'reprocess_rollbacks_total', help: 'Rollbacks in the dataset\'s catalog history.', labelNames: ['dataset'], registers: [registry] });
  const state = new Gauge({ name: 'reprocess_dataset_version_state', help: 'Each version of the dataset with its current state (value 1).', labelNames: ['dataset', 'version', 'state'], registers: [registry] });
  let last = 0;
  let pending = false;

  const refresh = async (): Promise<void> => {
    const all = await catalog.readAll();
    // All in one synchronous step: a scrape never sees the counters between reset and set.
    promotions.reset();
    rollbacks.reset();
    state.reset();
    for (const dataset of datasets) {
      const r = all.get(dataset);
      live.set({ dataset }, r?.live ?? 0);
      const history = r?.history ?? [];
      promotions.inc({ dataset, forced: 'false' }, history.filter((h) => h.action === 'promote' && !h.forced).length);
      promotions.inc({ dataset, forced: 'true' }, history.filter((h) => h.action === 'promote' && h.forced).length);
      rollbacks.inc({ dataset }, history.filter((h) => h.action === 'rollback').length);
      for (const v of r?.versions ?? []) state.set({ dataset, version: String(v.version), state: v.state }, 1);
    }
  };

  // Scrapes trigger a refresh in the background; they are answered with the last values at once.
  new Gauge({ name: 'reprocess_catalog_age_seconds', help: 'Seconds since the catalog metrics were last read from Kafka.', registers: [registry], collect() {
    if (!pending && Date.now() - last >= REFRESH_MS) {
      pending = true;
      refresh()
        .catch((err: unknown) => logger?.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not read the catalog for metrics'))
        .finally(() => {
          last = Date.now();
          pending = false;
        });
    }
    this.set(last === 0 ? -1 : (Date.now() - last) / 1000);
  } });
}
