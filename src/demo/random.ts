/** Small seeded randomness for the demo data: the same seed always gives the same stream. */

/** mulberry32: a 32-bit-state PRNG, fast and good enough for synthetic data (not for secrets). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes a seed with a number into a new 32-bit seed (murmur3's finaliser), so sub-streams are independent. */
export function mixSeed(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n | 0, 0x9e3779b1) ^ Math.imul(Math.floor(n / 4294967296) | 0, 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A standard normal sample (Box-Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log(0) is -Infinity
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Picks from weighted choices; weights need not sum to 1. */
export class WeightedChoice<T> {
  private readonly values: T[];
  private readonly cumulative: number[];
  private readonly total: number;

  constructor(choices: readonly (readonly [T, number])[]) {
    if (choices.length === 0) throw new RangeError('WeightedChoice needs at least one choice');
    this.values = choices.map(([v]) => v);
    let sum = 0;
    this.cumulative = choices.map(([, w]) => (sum += w));
    this.total = sum;
  }

  pick(rand: () => number): T {
    return this.at(rand());
  }

  /** The choice at quantile q in [0, 1): for stratified assignment from a low-discrepancy sequence. */
  at(q: number): T {
    const x = q * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] ?? Infinity) > x) hi = mid;
      else lo = mid + 1;
    }
    // lo is a valid index: the constructor refused an empty list.
    return this.values[lo] as T;
  }
}

/** A random UUID (version 4 layout) drawn from `rand`, so it is reproducible. */
export function randomUuid(rand: () => number): string {
  const hex = [0, 1, 2, 3].map(() => Math.floor(rand() * 4294967296).toString(16).padStart(8, '0')).join('');
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
