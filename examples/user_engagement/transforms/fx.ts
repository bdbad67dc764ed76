/**
 * FX rates for the user_engagement example: US dollars per one unit of a currency, by UTC day.
 *
 * In a real job these come from a rates table or a vendor feed. The demo needs rates that are
 * the same on every machine and every run, so each currency's daily rate is a formula of the
 * day: a base rate, a slow trend and two small waves, rounded to 6 significant digits like a
 * published rate. The monthly rate is the plain average of that month's daily rates.
 *
 * BRL has a downward trend of about 1.3% a month: that is what makes the monthly-rate bug in
 * transforms/v2.ts visible in the validation report (see that file).
 *
 * Only erasable TypeScript here (no enums, namespaces or parameter properties): Node 22.18+
 * runs this file directly by stripping the types.
 */

const DAY_MS = 86_400_000;
/** The day the bases below are quoted for: 2023-01-01. */
const ANCHOR_DAY = Date.UTC(2023, 0, 1) / DAY_MS;

interface Curve {
  /** USD per unit on ANCHOR_DAY, before the waves. */
  base: number;
  /** Relative drift per 30.44-day month (negative: the currency weakens against USD). */
  trendPerMonth: number;
  /** Two waves: relative amplitude, period in days, phase in radians. */
  waves: readonly (readonly [amplitude: number, periodDays: number, phase: number])[];
}

const CURVES: Readonly<Record<string, Curve>> = {
  USD: { base: 1, trendPerMonth: 0, waves: [] },
  EUR: { base: 1.072, trendPerMonth: 0.002, waves: [[0.011, 41, 0.3], [0.003, 9, 1.1]] },
  GBP: { base: 1.214, trendPerMonth: 0.003, waves: [[0.012, 47, 2.0], [0.003, 11, 0.4]] },
  JPY: { base: 0.00762, trendPerMonth: -0.004, waves: [[0.014, 53, 0.9], [0.004, 8, 2.2]] },
  INR: { base: 0.01209, trendPerMonth: -0.001, waves: [[0.006, 61, 1.7], [0.002, 13, 0.2]] },
  BRL: { base: 0.1893, trendPerMonth: -0.013, waves: [[0.006, 23, 0.5], [0.003, 6, 1.9]] },
  MXN: { base: 0.05258, trendPerMonth: 0.004, waves: [[0.010, 37, 2.6], [0.003, 7, 0.8]] },
  CAD: { base: 0.7389, trendPerMonth: 0.001, waves: [[0.008, 43, 1.3], [0.002, 10, 2.9]] },
  AUD: { base: 0.6812, trendPerMonth: 0.0, waves: [[0.011, 39, 0.1], [0.003, 12, 1.6]] },
};

/** Currencies with a rate. Any other currency makes dailyRate and monthlyRate throw. */
export const CURRENCIES: readonly string[] = Object.keys(CURVES);

export function hasRate(currency: string): boolean {
  return Object.hasOwn(CURVES, currency);
}

function curveOf(currency: string): Curve {
  const curve = hasRate(currency) ? CURVES[currency] : undefined;
  // The transforms let this propagate: a record that throws goes to the job's DLQ with the
  // message in its headers, and the run goes on (up to dlq.maxRatio).
  if (curve === undefined) throw new Error(`no FX rate for ${currency}`);
  return curve;
}

function rateOnDay(curve: Curve, day: number): number {
  const t = day - ANCHOR_DAY;
  let wave = 1;
  for (const [amplitude, period, phase] of curve.waves) wave += amplitude * Math.sin((2 * Math.PI * t) / period + phase);
  const trend = Math.exp((Math.log1p(curve.trendPerMonth) * t) / 30.44);
  return Number((curve.base * trend * wave).toPrecision(6));
}

/** Daily rates once computed, per currency: a rates table, filled as days are met. */
const DAILY = new Map<string, Map<number, number>>();

/** USD per unit of `currency` on the UTC day that contains `time` (epoch ms). */
export function dailyRate(currency: string, time: number): number {
  const day = Math.floor(time / DAY_MS);
  let days = DAILY.get(currency);
  if (days === undefined) {
    const curve = curveOf(currency);
    DAILY.set(currency, (days = new Map()));
    const rate = rateOnDay(curve, day);
    days.set(day, rate);
    return rate;
  }
  let rate = days.get(day);
  if (rate === undefined) days.set(day, (rate = rateOnDay(curveOf(currency), day)));
  return rate;
}

/** USD per unit of `currency` for a month "YYYY-MM": the average of that month's daily rates. */
export function monthlyRate(currency: string, month: string): number {
  const curve = curveOf(currency);
  const m = /^([0-9]{4})-([0-9]{2})$/.exec(month);
  if (!m) throw new Error(`"${month}" is not a month; write YYYY-MM`);
  const year = Number(m[1]);
  const index = Number(m[2]) - 1;
  const first = Date.UTC(year, index, 1) / DAY_MS;
  const next = Date.UTC(year, index + 1, 1) / DAY_MS;
  let sum = 0;
  for (let day = first; day < next; day++) sum += rateOnDay(curve, day);
  return Number((sum / (next - first)).toPrecision(6));
}

/** Day names once made, by day number (a backfill meets each day many times). */
const DAY_NAMES = new Map<number, string>();

/** "YYYY-MM-DD" of the UTC day that contains `time`. */
export function utcDay(time: number): string {
  const day = Math.floor(time / DAY_MS);
  let name = DAY_NAMES.get(day);
  if (name === undefined) {
    name = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (DAY_NAMES.size >= 100_000) DAY_NAMES.clear();
    DAY_NAMES.set(day, name);
  }
  return name;
}

/** "YYYY-MM" of the UTC month that contains `time`. */
export function utcMonth(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

/** The month before a "YYYY-MM" month. */
export function previousMonth(month: string): string {
  const [year, mon] = month.split('-').map(Number);
  return utcMonth(Date.UTC(year ?? NaN, (mon ?? NaN) - 2, 1));
}
