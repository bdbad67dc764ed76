/**
 * Every dataset record names the source record it came from in this header, as
 * "<source partition>:<source offset>" (decimal). Versions replayed from the same source can be
 * lined up by it: a reader switching versions uses it to skip what it already delivered.
 */
export const SOURCE_HEADER = 'reprocess.source';

export interface SourcePosition {
  partition: number;
  offset: bigint;
}

/** The source position a header value names, or null when it is missing or malformed. */
export function parseSourceHeader(value: Buffer | string | undefined): SourcePosition | null {
  if (value === undefined) return null;
  const text = typeof value === 'string' ? value : value.toString('utf8');
  const m = /^(\d{1,9}):(\d{1,19})$/.exec(text);
  if (!m?.[1] || !m[2]) return null;
  return { partition: Number(m[1]), offset: BigInt(m[2]) };
}
