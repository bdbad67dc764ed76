/**
 * How a worker asks for capacity before it processes records. `acquire` resolves once the
 * records (and bytes) may be processed and returns how long it waited, in ms.
 */
export interface Throttle {
  acquire(records: number, bytes: number, signal?: AbortSignal): Promise<number>;
  /** The current limit in records/s (null: unlimited), for progress and status. */
  currentLimit(): number | null;
  close(): Promise<void>;
}


/**
 * A token bucket in this process: tokens refill continuously at `recordsPerSec` (and
 * `bytesPerSec`) up to `burst` seconds' worth. Used by a single worker and as the fallback when
 * the shared bucket is unreachable.
 */
export class LocalThrottle implements Throttle {
  private records: number;
  private bytes: number;
  private last = performance.now();

  constructor(private readonly recordsPerSec: number | null, private readonly bytesPerSec: number | null, private readonly burstMs: number) {
    this.records = this.capacity(recordsPerSec);
    this.bytes = this.capacity(bytesPerSec);
  }

  private capacity(rate: number | null): number {
    return rate === null ? Infinity : Math.max(1, (rate * this.burstMs) / 1000);
  }


  private refill(): void {
    const now = performance.now();
    const dt = (now - this.last) / 1000;
    this.last = now;
    if (this.recordsPerSec !== null) this.records = Math.min(this.capacity(this.recordsPerSec), this.records + dt * this.recordsPerSec);
    if (this.bytesPerSec !== null) this.bytes = Math.min(this.capacity(this.bytesPerSec), this.bytes + dt * this.bytesPerSec);
  }

  async acquire(records: number, bytes: number, signal?: AbortSignal): Promise<number> {
    const started = performance.now();
    // A request larger than the bucket is allowed to drive it negative: it waits for its own debt.
    this.refill();
    this.records -= records;
    this.bytes -= bytes;
    for (;;) {
      const waitRecords = this.recordsPerSec !== null && this.records < 0 ? (-this.records / this.recordsPerSec) * 1000 : 0;
      const waitBytes = this.bytesPerSec !== null && this.bytes < 0 ? (-this.bytes / this.bytesPerSec) * 1000 : 0;
      const wait = Math.max(waitRecords, waitBytes);
      if (wait <= 0 || signal?.aborted) break;
      await new Promise((r) => setTimeout(r, Math.min(wait, 250)));
      this.refill();
    }
    return performance.now() - started;
  }

  currentLimit(): number | null {
    return this.recordsPerSec;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
