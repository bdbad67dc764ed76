import { ReprocessError } from '../errors.js';

/**
 * Kafka's murmur2, bit for bit as org.apache.kafka.common.utils.Utils.murmur2: the Java client's
 * default partitioner hashes keyed records with it, so the sink must too to keep every key on
 * the partition the live topic uses. Java ints are signed 32-bit; Math.imul and `| 0` give the
 * same wrap-around, `>>>` is Java's unsigned shift.
 */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;

  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    let k = data.readInt32LE(i * 4);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }

  // Java's switch falls through 3 → 2 → 1; spelled out here.
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data.readUInt8(tail + 2) << 16;
  if (rest >= 2) h ^= data.readUInt8(tail + 1) << 8;
  if (rest >= 1) {
    h ^= data.readUInt8(tail);
    h = Math.imul(h, m);
  }

  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * murmur2 of an ASCII string's bytes, which are its char codes: the same number, without making the
 * bytes. The loop is murmur2's, written again over char codes, so that the replay's hot path calls
 * no function per byte.
 */
export function murmur2Ascii(text: string): number {
  const length = text.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const at = i * 4;
    let k = text.charCodeAt(at) | (text.charCodeAt(at + 1) << 8) | (text.charCodeAt(at + 2) << 16) | (text.charCodeAt(at + 3) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= text.charCodeAt(tail + 2) << 16;
  if (rest >= 2) h ^= text.charCodeAt(tail + 1) << 8;
  if (rest >= 1) {
    h ^= text.charCodeAt(tail);
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

/** The partition the Java client's default partitioner picks for a non-null key. */
export function partitionForKey(key: Buffer, numPartitions: number): number {
  checkCount(numPartitions);
  return toPositive(murmur2(key)) % numPartitions;
}

/** As partitionForKey, for a key given as an ASCII string (its UTF-8 bytes are its char codes). */
export function partitionForAsciiKey(key: string, numPartitions: number): number {
  checkCount(numPartitions);
  return toPositive(murmur2Ascii(key)) % numPartitions;
}

function checkCount(numPartitions: number): void {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new ReprocessError(
      'INTERNAL',
      `cannot partition over ${String(numPartitions)} partitions: the count must be a positive integer`,
    );
  }
}
