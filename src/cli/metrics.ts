import type { Registry } from 'prom-client';
import { ReprocessError } from '../errors.js';
import type { Logger } from '../log.js';
import { Catalog } from '../catalog/index.js';
import { catalogMetrics } from '../metrics/catalog.js';
import { createMetricsRegistry, registryLatencyObserver, startMetricsServer, type MetricsServer } from '../metrics/server.js';
import type { CommandContext, Io, OptionSpec } from './command.js';
import { openServices, type Services } from './services.js';

export function metricsOptions(defaultPort: number): Record<string, OptionSpec> {
  return {
    'metrics-port': {
      type: 'string',
      valueName: 'PORT',
      description: `Serve Prometheus metrics at http://<host>:PORT/metrics while running (METRICS_PORT; 0 serves none). When the default port is taken, the next free one is used and logged.`,
      defaultText: String(defaultPort),
    },
  };
}

export interface ProcessMetrics {
  registry: Registry;
  server: MetricsServer | null;
  /**
   * Before exiting: if Prometheus scraped this process, wait (at most METRICS_LINGER_SECONDS,
   * default 30) for one more scrape so the final values are recorded, then stop serving.
   */
  finish(): Promise<void>;
}

function parsePort(raw: string, source: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port > 65_535) {
    throw new ReprocessError('USAGE', `${source} "${raw}" is not a port number (0-65535).`, { hint: 'Example: --metrics-port 9464, or 0 to serve no metrics.' });
  }
  return port;
}

/** The process's metrics registry and, unless the port is 0, the /metrics server. */
async function openMetrics(ctx: Pick<CommandContext, 'values'> & { io: Io; logger: Logger; defaultPort: number }): Promise<ProcessMetrics> {
  const registry = createMetricsRegistry();
  const flag = ctx.values['metrics-port'];
  const env = ctx.io.env.METRICS_PORT;
  const port = typeof flag === 'string' ? parsePort(flag, '--metrics-port') : env !== undefined && env !== '' ? parsePort(env, 'METRICS_PORT') : ctx.defaultPort;
  const server = port === 0 ? null : await startMetricsServer({
    registry, port, fallback: typeof flag !== 'string' && (env === undefined || env === ''), logger: ctx.logger,
    ...(ctx.io.env.METRICS_HOST ? { host: ctx.io.env.METRICS_HOST } : {}),
  });
  if (server) ctx.logger.info({ metrics: server.url }, `metrics at ${server.url}`);
  const lingerRaw = Number(ctx.io.env.METRICS_LINGER_SECONDS ?? 30);
  const linger = Number.isFinite(lingerRaw) && lingerRaw >= 0 ? lingerRaw * 1000 : 30_000;
  return {
    registry,
    server,
    async finish() {
      if (!server) return;
      if (server.scrapes() > 0 && linger > 0 && !ctx.io.signal.aborted) {
        ctx.io.stderr(`waiting for Prometheus to scrape the final metrics (at most ${Math.round(linger / 1000)} s; Ctrl-C skips)\n`);
        await server.lingerForScrape(linger, ctx.io.signal);
      }
      await server.close();
    },
  };
}

export interface ObservedServices {
  metrics: ProcessMetrics;
  services: Services;
  catalog: Catalog;
  /** Lingers for a final scrape (see ProcessMetrics.finish), then closes the services. */
  close(): Promise<void>;
}

/**
 * What a long-running command (replay, compare, demo) opens: its metrics and /metrics server, the
 * services with registry calls timed into them, and the catalog, exported for `datasets`.
 */
export async function openObserved(ctx: Pick<CommandContext, 'values'> & { io: Io; logger: Logger; defaultPort: number; datasets: string[] }): Promise<ObservedServices> {
  const metrics = await openMetrics(ctx);
  const services = openServices(ctx.io.env, ctx.logger, { onRegistryRequest: registryLatencyObserver(metrics.registry) });
  const catalog = new Catalog(services.kafka);
  catalogMetrics(metrics.registry, catalog, ctx.datasets, ctx.logger);
  return {
    metrics, services, catalog,
    async close() {
      await metrics.finish();
      await services.close();
    },
  };
}
