import { ReprocessError } from '../errors.js';

/**
 * Kafka's murmur2, bit for bit as org.apache.kafka.common.utils.Utils.murmur2: the Java client's
 * default partitioner hashes keyed records with it, so the sink must too to keep every key on
 * the partition the live topic uses. Java ints are signed 32-bit; Math.imul and `| 0` give the
 * same wrap-around, `>>>` is Java's unsigned shift. Hashes the first `length` bytes of `data`.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;

  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const at = i * 4;
    // Little-endian, as Java's loop assembles each word.
    let k = (data[at] as number) | ((data[at + 1] as number) << 8) | ((data[at + 2] as number) << 16) | ((data[at + 3] as number) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }

  // Java's switch falls through 3 → 2 → 1; spelled out here.
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2] as number) << 16;
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[tail] as number;
    h = Math.imul(h, m);
  }

  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which differs for MIN_VALUE). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition the Java client's default partitioner picks for a non-null key (its first `length` bytes). */
export function partitionForKey(key: Uint8Array, numPartitions: number, length = key.length): number {
  checkCount(numPartitions);
  return toPositive(murmur2(key, length)) % numPartitions;
}

function checkCount(numPartitions: number): void {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new ReprocessError(
      'INTERNAL',
      `cannot partition over ${String(numPartitions)} partitions: the count must be a positive integer`,
    );
  }
}
