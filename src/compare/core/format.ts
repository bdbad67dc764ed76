// Number and difference formatting shared by the failure messages and both renderers.

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const SMALL = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });

/** 45200000 → "45,200,000"; 1234.567 → "1,234.57"; 0.000123 → "0.000123". */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return INTEGER.format(n);
  return Math.abs(n) >= 1 ? DECIMAL.format(n) : SMALL.format(n);
}

/** A share 0..1 as a percentage: 0.1 → "10.00%". */
export function formatShare(share: number): string {
  return `${formatPercentNumber(share * 100)}%`;
}

/** The signed change from old to new as a percentage of old: "+1.30%", "-1.00%", "0%", "+inf%". */
export function formatChange(oldV: number, newV: number): string {
  if (oldV === newV) return '0%';
  if (oldV === 0) return newV > 0 ? '+inf%' : '-inf%';
  const pct = ((newV - oldV) / Math.abs(oldV)) * 100;
  return `${pct > 0 ? '+' : '-'}${formatPercentNumber(Math.abs(pct))}%`;
}

/** An unsigned relative difference (null = infinite) as a percentage: 0.013 → "1.30%". */
export function formatRelDiff(relDiff: number | null): string {
  return relDiff === null ? 'inf' : `${formatPercentNumber(relDiff * 100)}%`;
}

function formatPercentNumber(pct: number): string {
  if (pct === 0) return '0';
  // Two decimals hide differences below 0.005%; show those with significant digits instead.
  if (Math.abs(pct) < 0.01) return Number(pct.toPrecision(2)).toString();
  return pct.toFixed(2);
}
