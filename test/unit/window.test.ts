import { describe, expect, it } from 'vitest';
import { catchError, planSummary, resolveOffsetWindow, resolveTimeWindow, type Watermarks } from './helpers.js';

describe('resolveTimeWindow', () => {
  it('starts at lookup(from) and ends at lookup(to), sorted by partition', () => {
    const ranges = resolveTimeWindow([
      { partition: 1, low: '0', high: '500', fromOffset: '100', toOffset: '400' },
      { partition: 0, low: '10', high: '90', fromOffset: '20', toOffset: '30' },
    ]);
    expect(ranges).toEqual([
      { partition: 0, start: '20', end: '30', records: 10 },
      { partition: 1, start: '100', end: '400', records: 300 },
    ]);
  });

  it('uses the high watermark when a lookup finds nothing (null or -1)', () => {
    expect(resolveTimeWindow([{ partition: 0, low: '0', high: '80', fromOffset: '50', toOffset: null }])).toEqual([
      { partition: 0, start: '50', end: '80', records: 30 },
    ]);
    expect(resolveTimeWindow([{ partition: 0, low: '0', high: '80', fromOffset: '-1', toOffset: '-1' }])).toEqual([
      { partition: 0, start: '80', end: '80', records: 0 },
    ]);
  });

  it('keeps empty partitions as zero-record ranges so the replay finishes them at once', () => {
    const ranges = resolveTimeWindow([
      { partition: 0, low: '0', high: '0', fromOffset: null, toOffset: null }, // never written
      { partition: 1, low: '40', high: '40', fromOffset: null, toOffset: null }, // everything deleted
      { partition: 2, low: '0', high: '100', fromOffset: '60', toOffset: '60' }, // no record in the window
    ]);
    expect(ranges.map((r) => r.records)).toEqual([0, 0, 0]);
    expect(ranges[1]).toEqual({ partition: 1, start: '40', end: '40', records: 0 });
  });

  it('clamps answers to the retained range and never ends before it starts', () => {
    const [r] = resolveTimeWindow([{ partition: 0, low: '100', high: '200', fromOffset: '50', toOffset: '300' }]);
    expect(r).toEqual({ partition: 0, start: '100', end: '200', records: 100 });
  });

  it('handles offsets beyond 2^53', () => {
    const [r] = resolveTimeWindow([
      { partition: 0, low: '9007199254740990', high: '9007199254741000', fromOffset: '9007199254740993', toOffset: null },
    ]);
    expect(r).toEqual({ partition: 0, start: '9007199254740993', end: '9007199254741000', records: 7 });
  });
});

describe('resolveOffsetWindow', () => {
  const marks: Watermarks[] = [
    { partition: 0, low: '0', high: '1000' },
    { partition: 1, low: '250', high: '900' },
    { partition: 2, low: '0', high: '0' },
  ];

  it('replays [from, to) for partitions in both maps and skips partitions in neither', () => {
    const ranges = resolveOffsetWindow({ from: { 0: '120', 1: '300' }, to: { 0: '500', 1: '900' } }, marks);
    expect(ranges).toEqual([
      { partition: 0, start: '120', end: '500', records: 380 },
      { partition: 1, start: '300', end: '900', records: 600 },
    ]);
  });

  it('defaults a missing end to the high watermark and a missing start to the low watermark', () => {
    expect(resolveOffsetWindow({ from: { 0: '900' }, to: { 1: '400' } }, marks)).toEqual([
      { partition: 0, start: '900', end: '1000', records: 100 },
      { partition: 1, start: '250', end: '400', records: 150 },
    ]);
  });

  it('keeps empty ranges', () => {
    expect(resolveOffsetWindow({ from: { 0: '10', 2: '0' }, to: { 0: '10', 2: '0' } }, marks)).toEqual([
      { partition: 0, start: '10', end: '10', records: 0 },
      { partition: 2, start: '0', end: '0', records: 0 },
    ]);
  });

  it('refuses a start whose records retention already deleted, naming the retained range', () => {
    const err = catchError(() => resolveOffsetWindow({ from: { 1: '100' }, to: { 1: '400' } }, marks, 'events'), 'WINDOW_INVALID');
    expect(err.message).toContain('partition 1');
    expect(err.message).toContain('[250, 900)');
    expect(err.message).toContain('start at 250 or later');
    expect(err.context.topic).toBe('events');
  });

  it('refuses an end past the high watermark', () => {
    const err = catchError(() => resolveOffsetWindow({ from: { 0: '0' }, to: { 0: '1001' } }, marks), 'WINDOW_INVALID');
    expect(err.message).toMatch(/partition 0: to offset 1001 is past the end.*end at 1000 or earlier/);
  });

  it('refuses from > to, and a from past the end when no to is given', () => {
    expect(catchError(() => resolveOffsetWindow({ from: { 0: '600' }, to: { 0: '500' } }, marks), 'WINDOW_INVALID').message).toContain(
      'from offset 600 is after to offset 500',
    );
    expect(catchError(() => resolveOffsetWindow({ from: { 1: '950' }, to: {} }, marks), 'WINDOW_INVALID').message).toContain(
      'from offset 950 is past the end',
    );
  });

  it('refuses partitions the topic does not have, and reports every problem at once', () => {
    const err = catchError(() => resolveOffsetWindow({ from: { 1: '0', 7: '0' }, to: { 0: '2000' } }, marks, 'events'), 'WINDOW_INVALID');
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(4);
    expect(err.message).toContain('partition 7: events has no such partition');
    expect(err.message).toContain('partition 0: to offset 2000');
    expect(err.message).toContain('partition 1: from offset 0 was already deleted');
  });
});

describe('planSummary', () => {
  const ranges = [
    { partition: 0, start: '0', end: '6000', records: 6000 },
    { partition: 1, start: '5', end: '5', records: 0 },
    { partition: 2, start: '0', end: '4000', records: 4000 },
  ];

  it('totals records and bytes and is unthrottled without a rate', () => {
    expect(planSummary(ranges, 250)).toEqual({
      partitions: 3,
      activePartitions: 2,
      records: 10_000,
      estimatedBytes: 2_500_000,
      estimatedSeconds: null,
    });
  });

  it('estimates the duration from the slower of the record and byte limits', () => {
    expect(planSummary(ranges, 250, { recordsPerSec: 1000, bytesPerSec: null }).estimatedSeconds).toBe(10);
    expect(planSummary(ranges, 250, { recordsPerSec: 1000, bytesPerSec: 100_000 }).estimatedSeconds).toBe(25);
    expect(planSummary(ranges, 250, { recordsPerSec: null, bytesPerSec: null }).estimatedSeconds).toBeNull();
  });
});
