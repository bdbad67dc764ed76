/**
 * user_engagement v3: the fixed transform. One output record per event; revenue converted to US
 * dollars with the DAILY rate of the event's own UTC day.
 *
 * The only change from v2 (transforms/v2.ts) is the FX rate for BRL, plus the new field
 * fx_rate_date that records which day's rate was used, so any conversion can be audited.
 *
 * Contract (what `reprocess` calls): `transform(event, ctx)` returns the output record, an array
 * of records, or null to drop the event. Throwing sends the original record to the job's DLQ
 * with the error in its headers; the run goes on until dlq.maxRatio is exceeded.
 */
import type { SourceEvent, TransformContext, UserEngagementV3 } from './types.ts';
// Node loads fx.ts directly by type stripping, so the import names the `.ts` file (TypeScript
// accepts it with "rewriteRelativeImportExtensions" or "allowImportingTsExtensions").
import { dailyRate, utcDay } from './fx.ts';

export default function transform(event: SourceEvent, ctx: TransformContext): UserEngagementV3 {
  const eventTime = Number(event.event_time);
  let revenueUsd: number | null = null;
  let fxRateDate: string | null = null;
  if (event.revenue !== null && event.revenue !== undefined) {
    // Throws Error('no FX rate for XYZ') for a currency without rates: such a purchase cannot be
    // converted, and guessing would corrupt the measure, so it goes to the DLQ instead.
    revenueUsd = cents(event.revenue * dailyRate(event.currency, eventTime));
    fxRateDate = utcDay(eventTime);
  }
  return {
    user_id: event.user_id,
    event_id: event.event_id,
    event_type: event.event_type,
    country: event.country,
    product_category: event.product_category,
    user_segment: event.user_segment,
    revenue_usd: revenueUsd,
    event_time: eventTime,
    source_version: ctx.version,
    fx_rate_date: fxRateDate,
  };
}

function cents(amount: number): number {
  return Math.round(amount * 100) / 100;
}
