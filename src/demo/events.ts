import { readFileSync } from 'node:fs';
import avsc from 'avsc';
import { encodeWire } from '../core/wire.js';
import { partitionForKey } from '../core/partitioner.js';
import { uuidv5 } from '../core/uuid.js';
import { ReprocessError, errorMessage, isReprocessError } from '../errors.js';
import type { KafkaClient, OutRecord } from '../kafka/types.js';
import type { RegistryClient } from '../registry/client.js';
import { eventSchemaPath } from './paths.js';
import { WeightedChoice, mixSeed, mulberry32, normal, randomUuid } from './random.js';
import { setSubjectCompatibility } from './registry-config.js';

/*
 * The raw history of the demo's `events` topic: a deterministic generator (same options, same
 * events, on every machine) and a producer that writes it the way real producers did, in
 * Confluent wire format with the schemas of examples/user_engagement/schemas.
 */

const DAY_MS = 86_400_000;

/**
 * The UUIDv5 namespace that maps legacy integer user ids to UUIDs. It must equal
 * upcast.legacyIds.namespace in examples/user_engagement/job.yaml: v2 events carry
 * uuidv5(String(intId), DEMO_LEGACY_NAMESPACE), exactly what the built-in upcaster gives v1 events.
 */
export const DEMO_LEGACY_NAMESPACE = '8b0e7d2c-4f1a-4c3e-9d5b-2a6f1e9c7b40';

/** The raw topic examples/user_engagement/job.yaml replays. */
export const DEMO_SOURCE_TOPIC = 'events';

/**
 * The history the example job's window covers: April–June 2023, with producers switching from
 * integer to UUID user ids on 1 June 2023 (the seed article's cutover). job.yaml's window is
 * [start, start + days·24h).
 */
export const DEMO_HISTORY = {
  start: Date.UTC(2023, 3, 1),
  days: 91,
  cutover: Date.UTC(2023, 5, 1),
} as const;

export type PoisonKind = 'bad-magic' | 'truncated' | 'unknown-schema-id' | 'bad-fx';

/** The order poison kinds take turns in: every poisonEvery-th event gets the next one. */
export const POISON_KINDS: readonly PoisonKind[] = ['bad-magic', 'truncated', 'unknown-schema-id', 'bad-fx'];

/** A schema id no registry hands out in practice; 'unknown-schema-id' records carry it. */
export const UNKNOWN_SCHEMA_ID = 2_147_480_000;

export interface GeneratedEvent {
  /** The source schema version the event is written with: 1 before the cutover, 2 from it. */
  version: 1 | 2;
  /** The record key: the user id as text (decimal integer for v1, UUID for v2). */
  key: string;
  /** The event, valid for schemas/events-v<version>.avsc (even for poison; see produceEvents). */
  event: Record<string, unknown>;
  /** Epoch ms; equals event.event_time and becomes the Kafka record timestamp. */
  timestamp: number;
  /**
   * Set on deliberately bad records, which a replay must send to the DLQ:
   * bad-magic, truncated and unknown-schema-id are spoiled bytes (produceEvents makes them);
   * bad-fx is a valid purchase in currency XXX, which the example transforms cannot convert.
   */
  poison?: PoisonKind;
}

export interface GenerateOptions {
  /** Epoch ms of the first day; days are 24h from here (use UTC midnight for calendar days). */
  start: number;
  days: number;
  perDay: number;
  /** Epoch ms: events before it are version 1 (integer user ids), the rest version 2. */
  cutover: number;
  seed?: number;
  /** Every poisonEvery-th event (counted from the Unix epoch's day, so windows agree) is poison; 0 = none. */
  poisonEvery?: number;
  /** Size of the user population (default 5000): keys repeat, so per-key order matters. */
  users?: number;
}

/**
 * The skew of the generated data. Users have a country and a segment for life; each event
 * draws its type and product category. Country and segment shares hold for events (roughly:
 * activity per user is skewed too) as well as for users.
 */
export const DEMO_DISTRIBUTIONS = {
  /** Country (ISO-2; null = unknown), by share of users. */
  countries: [
    ['US', 35], ['BR', 12], ['IN', 10], ['DE', 7], ['GB', 7], ['FR', 5], ['JP', 5], ['MX', 5],
    ['CA', 4], ['ES', 2.5], ['IT', 2.5], ['NL', 2.5], ['AU', 2], [null, 0.5],
  ] as const satisfies readonly (readonly [string | null, number])[],
  segments: [['new', 20], ['casual', 45], ['loyal', 25], ['vip', 10]] as const satisfies readonly (readonly [string, number])[],
  categories: [
    ['fashion', 20], ['electronics', 18], ['home', 14], ['grocery', 14], ['beauty', 10],
    ['sports', 8], ['books', 7], ['toys', 5], ['travel', 4],
  ] as const satisfies readonly (readonly [string, number])[],
  /** Share of a segment's events that are purchases: ~8% over all events. */
  purchaseRate: { new: 0.05, casual: 0.07, loyal: 0.1, vip: 0.16 } as Readonly<Record<string, number>>,
  signupRate: 0.01,
  clickRate: 0.24,
} as const;

/** The local currency of each country; unknown country → USD. */
export const CURRENCY_BY_COUNTRY: Readonly<Record<string, string>> = {
  US: 'USD', BR: 'BRL', IN: 'INR', DE: 'EUR', GB: 'GBP', FR: 'EUR', JP: 'JPY', MX: 'MXN',
  CA: 'CAD', ES: 'EUR', IT: 'EUR', NL: 'EUR', AU: 'AUD',
};

/** Rough local price level (units per USD), so amounts look like local prices. */
const UNITS_PER_USD: Readonly<Record<string, number>> = {
  USD: 1, EUR: 0.92, GBP: 0.8, JPY: 138, INR: 82, BRL: 5, MXN: 17.8, CAD: 1.35, AUD: 1.5,
};
const SPEND_BY_SEGMENT: Readonly<Record<string, number>> = { new: 0.8, casual: 1, loyal: 1.3, vip: 2.2 };
const SPEND_BY_CATEGORY: Readonly<Record<string, number>> = {
  fashion: 1.2, electronics: 3, home: 1.5, grocery: 0.6, beauty: 0.8, sports: 1.3, books: 0.5, toys: 0.9, travel: 6,
};

/** The first legacy integer id; user i has id FIRST_LEGACY_ID + i. */
const FIRST_LEGACY_ID = 1_000_001;

interface User {
  intId: number;
  uuid: string;
  country: string | null;
  segment: string;
  currency: string;
}

/**
 * The user population. Attributes come from an R2 low-discrepancy sequence (with a seeded
 * offset) rather than independent draws: every run of consecutive users, and so every level of
 * activity, holds each country and segment close to its configured share, and the two stay
 * uncorrelated. With independent draws the few very active users make the event-level shares
 * noisy (the 0.5% of unknown countries came out anywhere from 0.2% to 0.6%).
 */
function makeUsers(seed: number, count: number): User[] {
  const rand = mulberry32(mixSeed(seed, 0x05e75));
  const countries = new WeightedChoice<string | null>(DEMO_DISTRIBUTIONS.countries);
  const segments = new WeightedChoice<string>(DEMO_DISTRIBUTIONS.segments);
  const [a1, a2] = [0.7548776662466927, 0.5698402909980532]; // 1/g and 1/g² for g³ = g + 1
  const [o1, o2] = [rand(), rand()];
  return Array.from({ length: count }, (_, i) => {
    const intId = FIRST_LEGACY_ID + i;
    const country = countries.at((o1 + a1 * i) % 1);
    return {
      intId,
      uuid: uuidv5(String(intId), DEMO_LEGACY_NAMESPACE),
      country,
      segment: segments.at((o2 + a2 * i) % 1),
      currency: country === null ? 'USD' : (CURRENCY_BY_COUNTRY[country] ?? 'USD'),
    };
  });
}

function checkOptions(o: GenerateOptions): void {
  const problems: string[] = [];
  if (!Number.isFinite(o.start)) problems.push(`start must be epoch ms, got ${String(o.start)}`);
  if (!Number.isSafeInteger(o.days) || o.days < 0) problems.push(`days must be a non-negative integer, got ${String(o.days)}`);
  if (!Number.isSafeInteger(o.perDay) || o.perDay < 0) problems.push(`perDay must be a non-negative integer, got ${String(o.perDay)}`);
  if (!Number.isFinite(o.cutover)) problems.push(`cutover must be epoch ms, got ${String(o.cutover)}`);
  if (o.poisonEvery !== undefined && (!Number.isSafeInteger(o.poisonEvery) || o.poisonEvery < 0)) problems.push(`poisonEvery must be 0 or a positive integer, got ${String(o.poisonEvery)}`);
  if (o.users !== undefined && (!Number.isSafeInteger(o.users) || o.users < 1)) problems.push(`users must be a positive integer, got ${String(o.users)}`);
  if (problems.length > 0) throw new ReprocessError('USAGE', `invalid event generator options: ${problems.join('; ')}`);
}

/**
 * The demo's raw history, in timestamp order, generated lazily one day at a time. Each day's
 * events depend only on the seed and the day (not on `start` or `days`), so a shorter window
 * yields a slice of a longer one. Users come from one population per seed: a user keeps its
 * country and segment, and its v2 UUID is the one the legacy-id upcaster gives its v1 integer.
 */
export function* generateEvents(options: GenerateOptions): Generator<GeneratedEvent, void, undefined> {
  checkOptions(options);
  const seed = options.seed ?? 42;
  const poisonEvery = options.poisonEvery ?? 0;
  const users = makeUsers(seed, options.users ?? 5000);
  const categories = new WeightedChoice<string>(DEMO_DISTRIBUTIONS.categories);
  const { purchaseRate, signupRate, clickRate } = DEMO_DISTRIBUTIONS;

  for (let k = 0; k < options.days; k++) {
    const dayStart = options.start + k * DAY_MS;
    const dayNumber = Math.floor(dayStart / DAY_MS);
    const rand = mulberry32(mixSeed(seed, dayNumber));

    // Times first, sorted: busier in the (UTC) evening, never outside the day.
    const times = Array.from({ length: options.perDay }, () => {
      const ms = rand() < 0.55 ? rand() * DAY_MS : (18 + 3.5 * normal(rand)) * 3_600_000;
      return dayStart + Math.min(DAY_MS - 1, Math.floor(((ms % DAY_MS) + DAY_MS) % DAY_MS));
    }).sort((a, b) => a - b);

    for (let i = 0; i < times.length; i++) {
      const timestamp = times[i] ?? dayStart;
      // Activity is skewed: low user indexes are much more active than high ones.
      const user = users[Math.floor(users.length * rand() ** 1.6)] ?? users[0];
      if (user === undefined) return; // unreachable: makeUsers returns at least one user
      const version: 1 | 2 = timestamp < options.cutover ? 1 : 2;

      const u = rand();
      const buys = purchaseRate[user.segment] ?? 0.08;
      const eventType = u < signupRate ? 'signup' : u < signupRate + buys ? 'purchase' : u < signupRate + buys + clickRate ? 'click' : 'view';
      const category = categories.pick(rand);
      let revenue: number | null = null;
      let currency = user.currency;
      if (eventType === 'purchase') {
        const usd = Math.exp(Math.log(22) + 0.8 * normal(rand)) * (SPEND_BY_SEGMENT[user.segment] ?? 1) * (SPEND_BY_CATEGORY[category] ?? 1);
        revenue = localAmount(usd, currency);
      }
      const eventId = randomUuid(rand);

      const ordinal = dayNumber * options.perDay + i;
      let poison: PoisonKind | undefined;
      if (poisonEvery > 0 && (ordinal + 1) % poisonEvery === 0) {
        poison = POISON_KINDS[Math.floor(ordinal / poisonEvery) % POISON_KINDS.length];
      }
      let type = eventType;
      if (poison === 'bad-fx') {
        // A purchase in a currency no rate exists for: decodes fine, the transform throws.
        type = 'purchase';
        currency = 'XXX';
        revenue = 19.99;
      }

      const event: Record<string, unknown> = {
        schema_version: version,
        event_id: eventId,
        user_id: version === 1 ? user.intId : user.uuid,
        event_type: type,
        country: user.country,
        product_category: category,
        user_segment: user.segment,
        revenue,
        currency,
        event_time: timestamp,
      };
      const key = version === 1 ? String(user.intId) : user.uuid;
      yield poison === undefined ? { version, key, event, timestamp } : { version, key, event, timestamp, poison };
    }
  }
}

function localAmount(usd: number, currency: string): number {
  const local = Math.max(0.5, usd) * (UNITS_PER_USD[currency] ?? 1);
  return currency === 'JPY' ? Math.round(local) : Math.round(local * 100) / 100;
}

// ───────────────────────── producing ─────────────────────────

/** Writer schemas of the two source versions, as parsed JSON. */
export type EventSchemas = { 1: Record<string, unknown>; 2: Record<string, unknown> };

export interface ProduceEventsOptions {
  client: KafkaClient;
  registry: RegistryClient;
  /** Basic auth for the registry's config call, where the registry needs it (RegistryClient keeps its own private). */
  registryAuth?: { username: string; password: string };
  topic: string;
  /** Partition count when the topic is created (default 6); an existing topic keeps its own. */
  partitions?: number;
  events: Iterable<GeneratedEvent>;
  /**
   * Writer schemas to register and encode with instead of the example's events-v1 and events-v2
   * (the benchmark adds fields to them for events of realistic size); each must accept the
   * events of its version.
   */
  schemas?: EventSchemas;
  /** Records per send (default 500). */
  batchSize?: number;
  signal?: AbortSignal;
  /** Called after each batch with the number of records produced so far. */
  onProgress?: (produced: number) => void;
}

export interface ProduceEventsResult {
  /** Records written, poison included. */
  produced: number;
  /** Records written per source version, poison included. */
  byVersion: Record<number, number>;
  /** Poison records written (all kinds). */
  poison: number;
  poisonByKind: Record<PoisonKind, number>;
  /** Registry ids of events-v1 and events-v2 under <topic>-value. */
  schemaIds: { 1: number; 2: number };
  partitions: number;
}

/**
 * Writes generated events to `topic` like the real producers did: Confluent wire format with
 * the schema registered under `<topic>-value`, key = user id, record timestamp = event_time,
 * partition = the Java client's murmur2 partition of the key (so a user's events stay in order
 * on one partition). Creates the topic when missing, with unlimited retention: the history is
 * years old and time-based retention would delete it at once.
 *
 * v2 changes user_id from long to string, which BACKWARD compatibility (Confluent's default)
 * refuses, so the subject's compatibility is set to NONE between the two registrations.
 *
 * Poison records: bad-magic → the event as JSON text; truncated → the first 3 bytes of the
 * valid value; unknown-schema-id → a valid body behind schema id 2147480000; bad-fx → valid.
 *
 * Sends are sequential through an idempotent producer, so per-partition order is the
 * generation order even across retries.
 */
export async function produceEvents(options: ProduceEventsOptions): Promise<ProduceEventsResult> {
  const { client, registry, topic, signal } = options;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new ReprocessError('USAGE', `batchSize must be a positive integer, got ${String(batchSize)}`);
  const checkAbort = (): void => {
    if (signal?.aborted) throw new ReprocessError('ABORTED', `producing demo events to ${topic} was aborted`, { cause: signal.reason, context: { topic } });
  };
  checkAbort();

  const schemas = options.schemas ?? ({ 1: readSchema(1), 2: readSchema(2) } as const);
  const types = { 1: avsc.Type.forSchema(schemas[1] as avsc.Schema), 2: avsc.Type.forSchema(schemas[2] as avsc.Schema) } as const;

  const admin = await client.admin();
  await admin.createTopic({ topic, partitions: options.partitions ?? 6, configs: { 'retention.ms': '-1' } });
  const partitions = await admin.partitionCount(topic);

  const subject = `${topic}-value`;
  const id1 = await registry.register(subject, schemas[1]);
  // After the first registration, so the subject exists (Apicurio refuses config for unknown subjects).
  await setSubjectCompatibility({ url: registry.url, ...(options.registryAuth ? { auth: options.registryAuth } : {}) }, subject, 'NONE');
  let id2: number;
  try {
    id2 = await registry.register(subject, schemas[2]);
  } catch (err) {
    if (isReprocessError(err, 'REGISTRY_ERROR') && err.context.status === 409) {
      throw new ReprocessError('REGISTRY_ERROR', `the registry refused events-v2 under ${subject} as incompatible with events-v1: ${errorMessage(err)}`, {
        hint: `v2 changes user_id from long to string on purpose; set the compatibility of ${subject} (or the registry's global level) to NONE and retry.`,
        context: { subject },
        cause: err,
      });
    }
    throw err;
  }
  const ids = { 1: id1, 2: id2 } as const;

  const result: ProduceEventsResult = {
    produced: 0,
    byVersion: {},
    poison: 0,
    poisonByKind: { 'bad-magic': 0, truncated: 0, 'unknown-schema-id': 0, 'bad-fx': 0 },
    schemaIds: ids,
    partitions,
  };

  const producer = await client.producer({ idempotent: true });
  try {
    let batch: OutRecord[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      checkAbort();
      await producer.send(topic, batch);
      result.produced += batch.length;
      batch = [];
      options.onProgress?.(result.produced);
    };
    for (const g of options.events) {
      const key = Buffer.from(g.key, 'utf8');
      batch.push({
        key,
        value: encodeValue(g, ids[g.version], types[g.version]),
        timestamp: String(g.timestamp),
        partition: partitionForKey(key, partitions),
      });
      result.byVersion[g.version] = (result.byVersion[g.version] ?? 0) + 1;
      if (g.poison !== undefined) {
        result.poison++;
        result.poisonByKind[g.poison]++;
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    await producer.close();
  }
  return result;
}

function encodeValue(g: GeneratedEvent, schemaId: number, type: avsc.Type): Buffer {
  if (g.poison === 'bad-magic') return Buffer.from(JSON.stringify(g.event), 'utf8');
  let body: Buffer;
  try {
    body = type.toBuffer(g.event);
  } catch (err) {
    throw new ReprocessError('ENCODE_FAILED', `generated event ${String(g.event.event_id)} does not fit events-v${String(g.version)}: ${errorMessage(err)}`, { cause: err });
  }
  switch (g.poison) {
    case 'truncated':
      return encodeWire(schemaId, body).subarray(0, 3);
    case 'unknown-schema-id':
      return encodeWire(UNKNOWN_SCHEMA_ID, body);
    default:
      return encodeWire(schemaId, body);
  }
}

/** The events-v<version> schema as parsed JSON. */
export function readSchema(version: 1 | 2): Record<string, unknown> {
  const path = eventSchemaPath(version);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ReprocessError('INTERNAL', `cannot read the demo's event schema ${path}: ${errorMessage(err)}`, {
      hint: 'The package is incomplete: examples/user_engagement/schemas must ship with it.',
      cause: err,
    });
  }
}
