import type { ReplaySnapshot } from '../replay/engine.js';

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i] ?? 'B'}`;
}

function bar(ratio: number, width: number): string {
  const r = Math.min(1, Math.max(0, ratio));
  const full = Math.round(r * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

const MAX_PARTITION_LINES = 16;

/** Progress for people: redrawn in place on a terminal, a line every few seconds otherwise. */
export class ProgressDisplay {
  private lines = 0;
  private lastPlain = 0;

  constructor(private readonly write: (text: string) => void, private readonly tty: boolean, private readonly plainEveryMs = 5_000) {}

  update(s: ReplaySnapshot, final = false): void {
    const ratio = s.totalRecords > 0 ? s.doneRecords / s.totalRecords : 1;
    const limit = s.rateLimit !== null ? `  limit ${formatCount(s.rateLimit)}/s` : '';
    const waiting = s.registryWaiting ? '  (waiting for the schema registry)' : '';
    const head = `${(ratio * 100).toFixed(1).padStart(5)}%  ${formatCount(s.doneRecords)}/${formatCount(s.totalRecords)} records  ${formatCount(s.recordsPerSec)} rec/s  ETA ${formatDuration(s.etaSeconds)}  written ${formatCount(s.written)}  dlq ${formatCount(s.dlq)}${limit}${waiting}`;
    if (!this.tty) {
      const now = Date.now();
      if (final || now - this.lastPlain >= this.plainEveryMs) {
        this.lastPlain = now;
        this.write(`progress ${head.trim()}\n`);
      }
      return;
    }
    const out: string[] = [`${bar(ratio, 30)} ${head}`];
    const parts = s.partitions.slice(0, MAX_PARTITION_LINES);
    for (const p of parts) {
      const total = Number(BigInt(p.end) - BigInt(p.start));
      const doneN = Number(BigInt(p.position) - BigInt(p.start));
      const pr = total > 0 ? doneN / total : 1;
      const who = p.done ? 'done' : p.worker ? 'this worker' : 'other worker';
      out.push(`  p${String(p.partition).padEnd(3)} ${bar(pr, 20)} ${formatCount(doneN).padStart(10)}/${formatCount(total).padEnd(10)} dlq ${formatCount(p.dlq).padEnd(6)} ${who}`);
    }
    if (s.partitions.length > MAX_PARTITION_LINES) out.push(`  … and ${s.partitions.length - MAX_PARTITION_LINES} more partitions`);
    const clear = this.lines > 0 ? `\x1b[${this.lines}F` : '';
    this.write(clear + out.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
    this.lines = out.length;
  }
}
