import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROMETHEUS_DIR = fileURLToPath(new URL('../../prometheus', import.meta.url));

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
}

/**
 * A port nothing listens on right now, below Linux's ephemeral range (32768+). An ephemeral port
 * can be taken by an outgoing connection, and Prometheus retrying a target on an ephemeral port
 * with no listener can even connect the socket to itself, which hangs that target's scrapes.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  url: string;
  /** Instant query; `time` in epoch seconds (default now). */
  query(expr: string, time?: number): Promise<PromSample[]>;
  /** Label values of `label` on the series matching `match`. */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Scrapes that succeeded per target. */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

function binary(): string {
  for (const candidate of [process.env.PROMETHEUS_BIN, 'prometheus', '/usr/bin/prometheus']) {
    if (candidate && spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error("Prometheus is not installed: `apt-get install prometheus` (Debian's package; .ci/run installs it), or set PROMETHEUS_BIN.");
}

/**
 * Starts a real Prometheus on a free port with the project's prometheus/ folder (copied), scraping
 * the given host:port targets every second instead of the file's 5 s, so a short run has samples.
 */
export async function startPrometheus(targets: string[]): Promise<Prometheus> {
  const bin = binary();
  const dir = mkdtempSync(join(tmpdir(), 'reprocess-prom-'));
  const conf = join(dir, 'conf');
  cpSync(PROMETHEUS_DIR, conf, { recursive: true });
  rmSync(join(conf, 'targets', 'compose.json'), { force: true });
  writeFileSync(join(conf, 'targets', 'test.json'), JSON.stringify([{ targets, labels: {} }]));
  const yml = readFileSync(join(conf, 'prometheus.yml'), 'utf8')
    .replace(/scrape_interval: \d+s/, 'scrape_interval: 1s')
    .replace(/scrape_timeout: \d+s/, 'scrape_timeout: 1s')
    .replace(/refresh_interval: \d+s/, 'refresh_interval: 1s');
  writeFileSync(join(conf, 'prometheus.yml'), yml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(bin, [
    `--config.file=${join(conf, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`prometheus did not become ready: ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
    return body.data;
  };
  const targetsNow = async (): Promise<{ scrapeUrl: string; health: string; lastError: string }[]> =>
    (await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets', {})).activeTargets;
  // Prometheus hands discovered targets to its scrape loops a few seconds after start: wait until
  // every target was tried once (down is fine: the processes start later).
  for (;;) {
    const active = await targetsNow();
    if (active.length === targets.length && active.every((t) => t.health !== 'unknown')) break;
    if (Date.now() > deadline + 30_000) throw new Error(`prometheus did not start scraping ${targets.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    async query(expr, time) {
      const data = await api<{ resultType: string; result: PromSample[] }>('/api/v1/query', { query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
      return data.result;
    },
    labelValues: (label, match) => api<string[]>(`/api/v1/label/${label}/values`, { 'match[]': match }),
    targets: targetsNow,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
