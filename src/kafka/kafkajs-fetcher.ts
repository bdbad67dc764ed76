/**
 * A replacement for kafkajs 2.2.4's `consumer/fetcher.js` that fetches one round ahead.
 *
 * kafkajs's fetcher fetches from a broker, hands the batches to the consumer's workers, waits
 * until every batch is processed, and only then fetches again: the broker's reply and its decoding
 * never overlap the processing. This one starts the next fetch as soon as the batches are handed
 * over, but only when every batch of the round has already moved the consumer's position past
 * itself (a consumer with `fetchAhead` does that as its handler starts, and marks the batch with
 * FETCH_AHEAD). Otherwise the next fetch would ask for the same offsets again, so it waits, exactly
 * like kafkajs's.
 *
 * Everything else is kafkajs's: a fetch still never starts before the previous round's batches are
 * processed (the prefetched round is handed over only then), and an error or a stop ends the loop
 * as before. A prefetched round that is not handed over (a handler failed, the consumer stopped or
 * rebalances) is dropped; the consumer then fetches from its positions as kafkajs would.
 *
 * A consumer that also overlaps rounds (OVERLAP_ROUNDS: its handlers keep a partition's batches in
 * order) is handed the prefetched round while the one before is still in its handlers, so a
 * partition whose batch is done goes on while another's last send is being acknowledged; the
 * round before that must be done first (at most two rounds in the handlers, one more fetched).
 */
import { EventEmitter } from 'node:events';

/** Set on a kafkajs Batch whose records the consumer's position has already moved past. */
export const FETCH_AHEAD = Symbol.for('kafka-reprocessor.fetchAhead');
/**
 * Set, with FETCH_AHEAD, on a batch whose consumer takes the next round while this one is still
 * being processed: its handlers keep each partition's batches in order themselves.
 */
export const OVERLAP_ROUNDS = Symbol.for('kafka-reprocessor.overlapRounds');

interface FetchedBatch {
  topic: string;
  partition: number;
  rawMessages?: unknown[];
  [FETCH_AHEAD]?: boolean;
  [OVERLAP_ROUNDS]?: boolean;
}

interface WorkerQueue {
  push(...batches: FetchedBatch[]): Promise<void>;
}

interface Logger {
  namespace(name: string): { info(message: string, extra?: object): void };
}

interface FetcherOptions {
  nodeId: number;
  workerQueue: WorkerQueue;
  partitionAssignments: Map<string, number>;
  fetch: (nodeId: number) => Promise<FetchedBatch[]>;
  logger: Logger;
}

/**
 * True when the next fetch may start while these batches are processed: at least one was marked
 * (the consumer fetches ahead; others never do) and the rest brought nothing, which leaves their
 * positions where they were, so fetching from there again is right.
 */
export function readyToFetchAhead(batches: FetchedBatch[]): boolean {
  return batches.some((b) => b[FETCH_AHEAD] === true) && batches.every((b) => b[FETCH_AHEAD] === true || (b.rawMessages?.length ?? 0) === 0);
}

/**
 * True when these batches' round may still be in the handlers while the next round is handed
 * over: ready to fetch ahead, and every batch that brought records marked OVERLAP_ROUNDS.
 */
export function readyToOverlap(batches: FetchedBatch[]): boolean {
  return readyToFetchAhead(batches) && batches.every((b) => b[OVERLAP_ROUNDS] === true || (b.rawMessages?.length ?? 0) === 0);
}

export function createFetcher({ nodeId, workerQueue, partitionAssignments, fetch, logger: rootLogger }: FetcherOptions) {
  const logger = rootLogger.namespace(`Fetcher ${nodeId}`);
  const emitter = new EventEmitter();
  let isRunning = false;

  const getWorkerQueue = (): WorkerQueue => workerQueue;
  const assignmentKey = ({ topic, partition }: FetchedBatch): string => `${topic}|${partition}`;
  const filterUnassignedBatches = (batches: FetchedBatch[]): FetchedBatch[] =>
    batches.filter((batch) => {
      const assignedFetcher = partitionAssignments.get(assignmentKey(batch));
      if (assignedFetcher != null && assignedFetcher !== nodeId) {
        logger.info('Filtering out batch due to partition already being processed by another fetcher', {
          topic: batch.topic,
          partition: batch.partition,
          assignedFetcher,
          fetcher: nodeId,
        });
        return false;
      }
      return true;
    });

  const start = async (): Promise<void> => {
    if (isRunning) return;
    isRunning = true;
    let ahead: Promise<FetchedBatch[]> | null = null;
    // A round handed over and not yet processed, while the next one is (OVERLAP_ROUNDS).
    let previous: { processed: Promise<void>; batches: FetchedBatch[] } | null = null;
    const release = (batches: FetchedBatch[]): void => {
      for (const b of batches) partitionAssignments.delete(assignmentKey(b));
    };
    const settle = async (round: { processed: Promise<void>; batches: FetchedBatch[] }): Promise<void> => {
      try {
        await round.processed;
      } finally {
        release(round.batches);
      }
    };
    try {
      while (isRunning) {
        const next: Promise<FetchedBatch[]> = ahead ?? fetch(nodeId);
        ahead = null;
        const batches = await next;
        if (!isRunning) break;
        const availableBatches = filterUnassignedBatches(batches);
        if (availableBatches.length === 0) {
          if (previous) {
            const round = previous;
            previous = null;
            await settle(round);
          }
          continue;
        }
        for (const b of availableBatches) partitionAssignments.set(assignmentKey(b), nodeId);
        // Handlers start synchronously in push(); the ones that fetch ahead mark their batch there.
        const round = { processed: workerQueue.push(...availableBatches), batches: availableBatches };
        // Awaited below, or on the next turn, or dropped with an earlier round's error.
        round.processed.catch(() => undefined);
        if (readyToFetchAhead(availableBatches)) {
          ahead = fetch(nodeId);
          // Not unhandled if the round fails first; awaited on the next turn otherwise.
          ahead.catch(() => undefined);
        }
        // At most two rounds in the handlers: the one before this must be done first.
        if (previous) {
          const before = previous;
          previous = null;
          try {
            await settle(before);
          } catch (err) {
            release(round.batches);
            throw err;
          }
        }
        if (readyToOverlap(availableBatches)) previous = round;
        else await settle(round);
      }
      if (previous) await settle(previous);
    } catch (error) {
      isRunning = false;
      emitter.emit('end');
      throw error;
    }
    emitter.emit('end');
  };

  const stop = async (): Promise<void> => {
    if (!isRunning) return;
    isRunning = false;
    await new Promise<void>((resolve) => emitter.once('end', () => resolve()));
  };

  return { start, stop, getWorkerQueue };
}
