/**
 * Worker threads that answer requests: the replay's processing threads (replay/workers.ts) and
 * the comparison's counting threads (compare/counting.ts). A thread loads what it needs, says it
 * is ready, then answers each request with a result or an error under the request's id; an error
 * it cannot tie to a request, or its exit, fails every request still waiting.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { ReprocessError, errorMessage, type ErrorContext } from '../errors.js';

/** An error as it crosses between threads. */
export interface ThreadError {
  name: string;
  message: string;
  code?: string;
  hint?: string;
  context?: ErrorContext;
  stack?: string;
}

/** What a thread sends: ready once, then a result or an error per request (id null: the thread failed). */
export type FromThread<R> =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: R }
  | { type: 'error'; id: number | null; error: ThreadError };

export function describeError(err: unknown): ThreadError {
  const e = err instanceof Error ? err : new Error(errorMessage(err));
  return {
    name: e.name,
    message: e.message,
    ...(e.stack ? { stack: e.stack } : {}),
    ...(err instanceof ReprocessError ? { code: err.code, context: err.context, ...(err.hint ? { hint: err.hint } : {}) } : {}),
  };
}

export function toError(e: ThreadError): Error {
  if (e.code) return new ReprocessError(e.code as ConstructorParameters<typeof ReprocessError>[0], e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.context ? { context: e.context } : {}) });
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** A number of threads as given to the API: a whole number ≥ 0 (`hint` says what the caller's threads do). */
export function checkThreads(threads: number, hint: string): number {
  if (!Number.isInteger(threads) || threads < 0) throw new ReprocessError('CONFIG_INVALID', `threads must be a whole number ≥ 0, got ${String(threads)}`, { hint });
  return threads;
}

/**
 * The entry point `name` (a module in dist/`dir`) for a thread started from `from` (the caller's
 * import.meta.url): tests running the TypeScript sources use the built one.
 */
export function threadUrl(from: string, dir: string, name: string): URL {
  return from.endsWith('.ts') ? new URL(`../../dist/${dir}/${name}.js`, from) : new URL(`./${name}.js`, from);
}

interface Pending<R> {
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class RequestThread<R> {
  private readonly pending = new Map<number, Pending<R>>();
  private ids = 0;
  failure: Error | null = null;

  private constructor(readonly worker: Worker, private readonly role: string) {
    const fail = (err: Error): void => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on('message', (m: FromThread<R>) => {
      if (m.type === 'result') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.result);
      } else if (m.type === 'error') {
        const err = toError(m.error);
        if (m.id === null) return fail(err);
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.reject(err);
      }
    });
    worker.on('error', (err) => fail(new ReprocessError('INTERNAL', `a ${role} thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(new ReprocessError('INTERNAL', `a ${role} thread exited (code ${code})`)));
  }

  /** Starts the thread and waits until it says it is ready (or fails while starting). */
  static async start<R>(url: URL, workerData: unknown, role: string): Promise<RequestThread<R>> {
    const worker = new Worker(url, { workerData, stdout: false, stderr: false });
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (m: FromThread<R>): void => {
          if (m.type === 'ready') done(null);
          else if (m.type === 'error') done(toError(m.error));
        };
        const onError = (err: Error): void => done(err);
        const onExit = (code: number): void => done(new ReprocessError('INTERNAL', `a ${role} thread exited while starting (code ${code})`));
        // Only these listeners go: Worker keeps listeners of its own (removeAllListeners would stop its messages).
        const done = (err: Error | null): void => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    // A thread that is never closed (its owner failed while starting) must not keep the process alive.
    worker.unref();
    return new RequestThread<R>(worker, role);
  }

  /** Starts `count` threads and waits until each is ready; if one fails to start, those started are stopped. */
  static async startAll<R>(count: number, url: URL, workerData: unknown, role: string): Promise<RequestThread<R>[]> {
    const started: RequestThread<R>[] = [];
    try {
      for (let i = 0; i < count; i++) started.push(await RequestThread.start<R>(url, workerData, role));
    } catch (err) {
      await Promise.all(started.map((t) => t.terminate()));
      throw err;
    }
    return started;
  }

  /** Sends a message that gets no answer (messages are handled in the order sent). */
  post(message: object, transfer: readonly TransferListItem[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /** Sends `message(id)` and waits for the answer to it. */
  request(message: (id: number) => object, transfer: readonly TransferListItem[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.ids;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(message(id), transfer);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * The thread side: runs `setup` (loading what every request needs), says ready, then answers each
 * message with `handle` — one at a time, in the order sent; `handle` returns null for a message
 * that gets no answer, or a result and what to transfer with it.
 */
export function serveRequests<M extends object, R>(
  port: import('node:worker_threads').MessagePort,
  setup: () => Promise<(m: M) => Promise<{ result: R; transfer?: TransferListItem[] } | null>>,
): void {
  void (async () => {
    let handle: (m: M) => Promise<{ result: R; transfer?: TransferListItem[] } | null>;
    try {
      handle = await setup();
    } catch (err) {
      port.postMessage({ type: 'error', id: null, error: describeError(err) } satisfies FromThread<R>);
      return;
    }
    let queue = Promise.resolve();
    port.on('message', (m: M) => {
      const id = 'id' in m && typeof m.id === 'number' ? m.id : null;
      queue = queue.then(async () => {
        try {
          const answer = await handle(m);
          if (answer && id !== null) port.postMessage({ type: 'result', id, result: answer.result } satisfies FromThread<R>, answer.transfer ?? []);
        } catch (err) {
          port.postMessage({ type: 'error', id, error: describeError(err) } satisfies FromThread<R>);
        }
      });
    });
    port.postMessage({ type: 'ready' } satisfies FromThread<R>);
  })();
}
