// One import point for the unit tests: the public API of the core plus small test helpers.
import { isReprocessError, type ErrorCode, type ReprocessError } from '../../src/errors.js';

export * from '../../src/core/index.js';
export { ReprocessError } from '../../src/errors.js';

/** Run fn, expect a ReprocessError with this code, and return it for further checks. */
export function catchError(fn: () => unknown, code: ErrorCode): ReprocessError {
  try {
    fn();
  } catch (err) {
    if (isReprocessError(err, code)) return err;
    throw new Error(`expected ReprocessError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  throw new Error(`expected ReprocessError ${code}, but nothing was thrown`);
}
