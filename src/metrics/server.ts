import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { ReprocessError } from '../errors.js';
import type { Logger } from '../log.js';

/** Default ports: a replay worker serves on 9464, an aggregator (compare) on 9465. */
export const DEFAULT_METRICS_PORTS = { replay: 9464, compare: 9465 } as const;

/** One registry per process, with the default process and Node.js metrics. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Observes schema registry calls (RegistryClient's onRequest) into a latency histogram; once per registry. */
export function registryLatencyObserver(registry: Registry): (operation: string, seconds: number, ok: boolean) => void {
  const histogram = new Histogram({
    name: 'reprocess_registry_request_duration_seconds',
    help: 'Schema registry HTTP calls by operation and outcome (ok, error).',
    labelNames: ['operation', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return (operation, seconds, ok) => histogram.observe({ operation, outcome: ok ? 'ok' : 'error' }, seconds);
}

export interface MetricsServer {
  port: number;
  url: string;
  /** Scrapes served so far. */
  scrapes(): number;
  /**
   * Keeps the final values up until they were scraped once more: when anything scraped this
   * process before, waits (at most `timeoutMs`) for a scrape that starts after this call.
   */
  lingerForScrape(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  /** Bind address (METRICS_HOST); default 0.0.0.0 so a containerised Prometheus can reach it. */
  host?: string;
  /** The port was chosen by default rather than asked for: when taken, try the next few. */
  fallback?: boolean;
  logger?: Logger;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Serves GET /metrics (Prometheus text format) until closed. */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const host = o.host ?? '0.0.0.0';
  let scrapes = 0;
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('kafka-reprocessor: metrics at /metrics\n');
      return;
    }
    o.registry.metrics().then(
      (body) => {
        scrapes++;
        res.writeHead(200, { 'content-type': o.registry.contentType }).end(body);
        for (const w of waiters) w();
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  const tries = o.fallback && o.port !== 0 ? 10 : 1;
  let port = -1;
  for (let i = 0; i < tries; i++) {
    try {
      port = await listen(server, o.port + i, host);
      if (i > 0) o.logger?.warn({ asked: o.port, port }, `metrics port ${o.port} is taken; serving /metrics on ${port} instead`);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' || i === tries - 1) {
        throw new ReprocessError('USAGE', `cannot serve /metrics on ${host}:${o.port + i}: ${code === 'EADDRINUSE' ? 'the port is in use' : (err as Error).message}.`, {
          hint: 'Choose another port with --metrics-port N (or METRICS_PORT), or 0 to serve no metrics.',
          context: { port: o.port + i },
        });
      }
    }
  }
  server.unref();
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let closed: Promise<void> | undefined;
  return {
    port,
    url: `http://${shownHost}:${port}/metrics`,
    scrapes: () => scrapes,
    lingerForScrape(timeoutMs, signal) {
      if (scrapes === 0 || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
      return new Promise((resolve) => {
        const finish = (scraped: boolean): void => {
          clearTimeout(timer);
          waiters.delete(onScrape);
          signal?.removeEventListener('abort', onAbort);
          resolve(scraped);
        };
        const onScrape = (): void => finish(true);
        const onAbort = (): void => finish(false);
        const timer = setTimeout(() => finish(false), timeoutMs);
        waiters.add(onScrape);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
