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
  children?: number[];
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
  /**
   * The same time charged to the code that asked for it: Node internals and native or generated
   * frames (Buffer allocation, hashing, avsc's generated codecs) go to the nearest caller that is
   * a package, the product or the transform.
   */
  owners: { owner: string; ms: number; share: number }[];
  functions: { fn: string; where: string; component: string; ms: number; share: number }[];
  /** The product's and the transform's own functions by inclusive time (their callees counted in). */
  productInclusive: { fn: string; where: string; ms: number; share: number }[];
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
  // C++ builtins (Buffer writes, hashing) and code made with new Function (avsc's generated
  // readers and writers, named after the record: readEvent, writeUserEngagement) have no URL.
  if (url === '') return 'native or generated (no URL)';
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
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const borrowed = new Set(['node internals', 'native or generated (no URL)']);
  const ownerOf = (id: number): string => {
    let n = byId.get(id);
    const own = n ? component(n.callFrame.url, n.callFrame.functionName) : 'other';
    for (let guard = 0; n && borrowed.has(component(n.callFrame.url, n.callFrame.functionName)) && guard < 200; guard++) {
      const up = parent.get(n.id);
      const next = up === undefined ? undefined : byId.get(up);
      if (!next || next.callFrame.functionName === '(root)') return own;
      n = next;
    }
    return n ? component(n.callFrame.url, n.callFrame.functionName) : own;
  };
  const owners = new Map<string, number>();
  const comps = new Map<string, number>();
  const inclusive = new Map<string, { fn: string; where: string; us: number }>();
  const ours = (url: string): boolean => url.startsWith('file://') && !url.includes('/node_modules/') && (url.includes('/dist/') || url.includes('/examples/'));
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
    const o = ownerOf(id);
    owners.set(o, (owners.get(o) ?? 0) + us);
    const fn = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const e = fns.get(key) ?? { fn, where, component: c, us: 0 };
    e.us += us;
    fns.set(key, e);
    // Each product frame on this sample's stack, once (recursion would count twice).
    const seen = new Set<string>();
    for (let q: number | undefined = id, guard = 0; q !== undefined && guard < 500; q = parent.get(q), guard++) {
      const f = byId.get(q)?.callFrame;
      if (!f || !ours(f.url)) continue;
      const w = `${shortUrl(f.url)}:${f.lineNumber + 1}`;
      const k = `${f.functionName}@${w}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const ie = inclusive.get(k) ?? { fn: f.functionName || '(anonymous)', where: w, us: 0 };
      ie.us += us;
      inclusive.set(k, ie);
    }
  }
  const share = (us: number): number => round((us / cpuUs) * 100, 1);
  return {
    cpuMs: round(cpuUs / 1000, 0),
    window: inFlow ? 'flow' : 'whole-process',
    windowMs: round((to - from) / 1000, 0),
    records,
    cpuMicrosPerRecord: round(cpuUs / records, 1),
    components: [...comps].sort((a, b) => b[1] - a[1]).map(([c, us]) => ({ component: c, ms: round(us / 1000, 0), share: share(us) })),
    owners: [...owners].sort((a, b) => b[1] - a[1]).map(([o, us]) => ({ owner: o, ms: round(us / 1000, 0), share: share(us) })),
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ fn: f.fn, where: f.where, component: f.component, ms: round(f.us / 1000, 0), share: share(f.us) })),
    productInclusive: [...inclusive.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ fn: f.fn, where: f.where, ms: round(f.us / 1000, 0), share: share(f.us) })),
  };
}
