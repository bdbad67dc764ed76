/**
 * The demo's data: a deterministic raw event history for examples/user_engagement, and a
 * producer that writes it to Kafka the way real producers did. Used by tests, the demo and
 * benchmarks.
 */
export {
  CURRENCY_BY_COUNTRY,
  DEMO_DISTRIBUTIONS,
  DEMO_HISTORY,
  DEMO_LEGACY_NAMESPACE,
  DEMO_SOURCE_TOPIC,
  POISON_KINDS,
  UNKNOWN_SCHEMA_ID,
  generateEvents,
  produceEvents,
  readSchema,
  type EventSchemas,
  type GenerateOptions,
  type GeneratedEvent,
  type PoisonKind,
  type ProduceEventsOptions,
  type ProduceEventsResult,
} from './events.js';
export { eventSchemaPath, exampleDir, packageRoot } from './paths.js';
export { mulberry32, randomUuid } from './random.js';
export { setSubjectCompatibility, type CompatibilityLevel } from './registry-config.js';
