/**
 * |new - old| / |old|. Both zero → 0; old zero and new not → Infinity (no ratio can describe
 * something appearing from nothing).
 */
export function relativeDifference(oldV: number, newV: number): number {
  if (oldV === newV) return 0;
  if (oldV === 0) return Infinity;
  return Math.abs(newV - oldV) / Math.abs(oldV);
}

/** "Differs by less than tolerance"; an exact match passes even at tolerance 0. */
export function withinTolerance(relDiff: number, tolerance: number): boolean {
  return relDiff === 0 || relDiff < tolerance;
}
