/**
 * Kafka offsets are int64, beyond what a JS number holds exactly, so the core carries them as
 * canonical decimal strings ("0", "120", no sign, no leading zeros) and does arithmetic in bigint.
 * Canonical form makes string equality mean offset equality.
 */
export type Offset = string;

const INT64_MAX = 2n ** 63n - 1n;
const CANONICAL_RE = /^(0|[1-9][0-9]*)$/;

export function isOffset(value: unknown): value is Offset {
  return typeof value === 'string' && CANONICAL_RE.test(value) && BigInt(value) <= INT64_MAX;
}

/**
 * A non-negative int64 given as a number, bigint or decimal string, in canonical form; null when it
 * is not one. Numbers must be safe integers: a larger one has already lost its exact value.
 */
export function toOffset(value: unknown): Offset | null {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return null;
    n = BigInt(value);
  } else if (typeof value === 'string' && /^[0-9]+$/.test(value.trim())) n = BigInt(value.trim());
  else return null;
  return n >= 0n && n <= INT64_MAX ? n.toString() : null;
}

export function compareOffsets(a: Offset, b: Offset): -1 | 0 | 1 {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function minOffset(a: Offset, b: Offset): Offset {
  return compareOffsets(a, b) <= 0 ? a : b;
}

export function maxOffset(a: Offset, b: Offset): Offset {
  return compareOffsets(a, b) >= 0 ? a : b;
}

/** `to - from` as a number (a count of offsets; exact below 2^53, which any real partition is). */
export function offsetDistance(from: Offset, to: Offset): number {
  return Number(BigInt(to) - BigInt(from));
}

/** `offset + n`, e.g. the position to commit after processing `offset` is addOffset(offset, 1). */
export function addOffset(offset: Offset, n: number | bigint): Offset {
  return (BigInt(offset) + BigInt(n)).toString();
}

