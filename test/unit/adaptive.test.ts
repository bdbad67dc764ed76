import { describe, expect, it } from 'vitest';
import { MIN_FACTOR, nextFactor } from '../../src/replay/adaptive.js';

describe('adaptive back-off controller', () => {
  it('halves above maxLag, down to a floor', () => {
    expect(nextFactor(1, 60_000, 50_000)).toBe(0.5);
    let f = 1;
    for (let i = 0; i < 20; i++) f = nextFactor(f, 1e9, 50_000);
    expect(f).toBe(MIN_FACTOR);
  });
  it('holds between half of maxLag and maxLag, and recovers below half', () => {
    expect(nextFactor(0.5, 40_000, 50_000)).toBe(0.5);
    expect(nextFactor(0.5, 10_000, 50_000)).toBeCloseTo(0.635);
    let f = 0.05;
    for (let i = 0; i < 30; i++) f = nextFactor(f, 0, 50_000);
    expect(f).toBe(1);
  });
});
