/**
 * User upcasters for the `events` topic, keyed by the version they lift FROM: key k turns an
 * event of schema version k into version k+1. `reprocess` chains them, so a v1 event passes
 * through 1 → 2 (and 2 → 3, … once such versions exist) before the transform sees it.
 *
 * What you do NOT write here: the integer → UUID user_id mapping. job.yaml's upcast.legacyIds
 * does it with a built-in, deterministic upcaster (uuidv5 of the integer under a fixed
 * namespace) and it runs FIRST, so the upcasters below already see UUID user ids. A version
 * with no upcaster is lifted unchanged: fields added with Avro defaults need no code.
 *
 * An upcaster gets a copy of the event and returns the lifted event (a new object or the same
 * one). Throwing sends the record to the DLQ.
 */
type Event = Record<string, unknown>;
type Upcaster = (event: Event) => Event;

const upcasters: Record<number, Upcaster> = {
  // 1 → 2. v1 web clients sent country codes as typed ("br", " Br"); v2 producers validate
  // them. Normalise old events so they group with new ones under the country dimension.
  // (The demo's generated v1 events are already canonical, so here it changes nothing.)
  // The event is this upcaster's own copy, so it is changed in place: a new object per event
  // (`{ ...event, country }`) works too, and costs a few percent of a replay's CPU.
  1: (event) => {
    event.country = canonicalCountry(event.country);
    return event;
  },
};

function canonicalCountry(value: unknown): unknown {
  if (typeof value !== 'string') return value; // null stays null (unknown country)
  const code = value.trim().toUpperCase();
  return code === '' ? null : code;
}

export default upcasters;
