/**
 * Where the replay's CPU goes, from a V8 .cpuprofile (node --cpu-prof): self time per function
 * and per component (kafkajs, avsc, the engine, the transform, GC, …), optionally cut to the
 * stretch between the first and the last consumed batch so start-up does not blur it.
 */
import { readFileSync } from 'node:fs';
import { round } from './lib.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CpuProfileSummary {
  /** Sampled CPU (not idle) in the analysed stretch, ms. */
  cpuMs: number;
  /** The stretch analysed: the records' flow when the marks fell inside the profile, else all of it. */
  window: 'flow' | 'whole-process';
  windowMs: number;
  records: number;
  cpuMicrosPerRecord: number;
  components: { component: string; ms: number; share: number }[];
  functions: { fn: string; where: string; component: string; ms: number; share: number }[];
}

function component(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/native (program)';
  if (fn === '(idle)') return 'idle';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1]) return nm[1];
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist?.[1]) return `reprocess ${dist[1]}/`;
  if (url.includes('/examples/')) return 'example transform/upcasters';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/bench/')) return 'bench harness';
  if (url === '') return fn ? `native: ${fn}` : 'native';
  return 'other';
}

function shortUrl(url: string): string {
  const i = url.search(/\/(node_modules|dist|examples|bench)\//);
  return i >= 0 ? url.slice(i + 1) : url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, records: number, flowHrUs: [number, number] | null, top = 12): CpuProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Sample i lasts until sample i+1 (DevTools' convention); timestamps are µs on process.hrtime's clock.
  const stamps: number[] = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) stamps.push((t += d));
  const inFlow = flowHrUs !== null && flowHrUs[0] >= p.startTime && flowHrUs[1] <= p.endTime;
  const [from, to] = inFlow && flowHrUs ? flowHrUs : [p.startTime, p.endTime];
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const at = stamps[i] ?? 0;
    const next = stamps[i + 1] ?? p.endTime;
    if (at < from || at > to) continue;
    const id = p.samples[i] ?? -1;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, next - at));
  }
  const comps = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; component: string; us: number }>();
  let cpuUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const c = component(url, functionName);
    if (c === 'idle') continue;
    cpuUs += us;
    comps.set(c, (comps.get(c) ?? 0) + us);
    const fn = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const e = fns.get(key) ?? { fn, where, component: c, us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const share = (us: number): number => round((us / cpuUs) * 100, 1);
  return {
    cpuMs: round(cpuUs / 1000, 0),
    window: inFlow ? 'flow' : 'whole-process',
    windowMs: round((to - from) / 1000, 0),
    records,
    cpuMicrosPerRecord: round(cpuUs / records, 1),
    components: [...comps].sort((a, b) => b[1] - a[1]).map(([c, us]) => ({ component: c, ms: round(us / 1000, 0), share: share(us) })),
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ fn: f.fn, where: f.where, component: f.component, ms: round(f.us / 1000, 0), share: share(f.us) })),
  };
}
