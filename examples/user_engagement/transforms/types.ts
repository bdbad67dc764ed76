/**
 * The shapes a transform sees and returns. Types only: Node erases this file's imports.
 */

/**
 * A raw event after decoding and upcasting: always the newest source shape (schemas/events-v2.avsc),
 * whatever version it was written with. v1 events arrive with user_id already mapped from the
 * legacy integer to its UUID (upcast.legacyIds in job.yaml) and schema_version set to 2.
 */
export interface SourceEvent {
  schema_version: number;
  event_id: string;
  /** A UUID string for every event. */
  user_id: string;
  event_type: string;
  country: string | null;
  product_category: string;
  user_segment: string;
  /** In `currency`; purchases only. */
  revenue: number | null;
  currency: string;
  /** Epoch milliseconds (the Avro long with logicalType timestamp-millis). */
  event_time: number;
}

/** Where the event came from (topic, partition, offset, timestamp, key) and the version it was written with. */
export type { TransformContext } from 'kafka-reprocessor';

/** schemas/user_engagement-v2.avsc */
export interface UserEngagementV2 {
  user_id: string;
  event_id: string;
  event_type: string;
  country: string | null;
  product_category: string;
  user_segment: string;
  revenue_usd: number | null;
  event_time: number;
  source_version: number;
}

/** schemas/user_engagement-v3.avsc: v2 plus the day of the FX rate used. */
export interface UserEngagementV3 extends UserEngagementV2 {
  fx_rate_date: string | null;
}
