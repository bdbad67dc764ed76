import { ReprocessError } from '../errors.js';
import type { RegistryEndpoint } from '../config/endpoints.js';

/**
 * A Confluent Schema Registry API client (works with Confluent's registry and Apicurio's ccompat
 * API alike: only the base URL differs). Schemas by id are immutable, so they are cached forever;
 * concurrent lookups of the same id share one request. Network failures and 5xx answers are
 * retried with backoff and then surface as a retriable REGISTRY_UNAVAILABLE, never as a bad record.
 */
export interface RegisteredSchema {
  id: number;
  schema: string;
  schemaType: string;
}

export interface SubjectVersion {
  subject: string;
  version: number;
}

export interface RegistryClientOptions {
  endpoint: RegistryEndpoint;
  timeoutMs?: number;
  retries?: number;
  /** Called after each request with its latency, for metrics. */
  onRequest?: (operation: string, seconds: number, ok: boolean) => void;
}

/** Confluent error code for "schema not found". */
const SCHEMA_NOT_FOUND = 40403;
const SUBJECT_NOT_FOUND = 40401;

export class RegistryClient {
  private readonly base: string;
  private readonly authHeader: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly onRequest: RegistryClientOptions['onRequest'];
  private readonly byId = new Map<number, Promise<RegisteredSchema>>();
  private readonly versionsById = new Map<number, Promise<SubjectVersion[]>>();

  constructor(options: RegistryClientOptions) {
    this.base = options.endpoint.url;
    this.authHeader = options.endpoint.auth
      ? 'Basic ' + Buffer.from(`${options.endpoint.auth.username}:${options.endpoint.auth.password}`).toString('base64')
      : undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 5;
    this.onRequest = options.onRequest;
  }

  get url(): string {
    return this.base;
  }

  private async request(operation: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let attempt = 0;
    let lastError: unknown;
    for (;;) {
      const started = performance.now();
      try {
        const headers: Record<string, string> = { Accept: 'application/vnd.schemaregistry.v1+json, application/json' };
        if (body !== undefined) headers['Content-Type'] = 'application/vnd.schemaregistry.v1+json';
        if (this.authHeader) headers.Authorization = this.authHeader;
        const res = await fetch(this.base + path, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await res.text();
        this.onRequest?.(operation, (performance.now() - started) / 1000, res.ok);
        if (res.status >= 500 || res.status === 429) {
          lastError = new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        } else {
          let json: unknown = null;
          try {
            json = text === '' ? null : JSON.parse(text);
          } catch {
            json = { message: text.slice(0, 200) };
          }
          if (res.status === 401 || res.status === 403) {
            throw new ReprocessError('CONFIG_INVALID', `The schema registry at ${this.base} refused the request (HTTP ${res.status}).`, {
              hint: 'Check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD.',
              context: { endpoint: this.base, variable: 'SCHEMA_REGISTRY_URL' },
            });
          }
          return { status: res.status, json };
        }
      } catch (err) {
        if (err instanceof ReprocessError) throw err;
        this.onRequest?.(operation, (performance.now() - started) / 1000, false);
        lastError = err;
      }
      attempt++;
      if (attempt > this.retries) {
        const reason = lastError instanceof Error ? (lastError.cause instanceof Error ? lastError.cause.message : lastError.message) : String(lastError);
        throw new ReprocessError('REGISTRY_UNAVAILABLE', `Cannot reach the schema registry at ${this.base} (set by SCHEMA_REGISTRY_URL): ${reason}`, {
          retriable: true,
          hint: 'Start the embedded stack with `reprocess stack up`, or set SCHEMA_REGISTRY_URL to your registry.',
          context: { endpoint: this.base, variable: 'SCHEMA_REGISTRY_URL' },
          cause: lastError,
        });
      }
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
    }
  }

  private fail(operation: string, status: number, json: unknown): never {
    const body = (json ?? {}) as { error_code?: number; message?: string };
    throw new ReprocessError('REGISTRY_ERROR', `Schema registry ${operation} failed (HTTP ${status}${body.error_code ? `, error ${body.error_code}` : ''}): ${body.message ?? 'no message'}`, {
      context: { endpoint: this.base, registryErrorCode: body.error_code, status },
    });
  }

  /** Registers a schema under a subject (idempotent: the same schema gives the same id). */
  async register(subject: string, schema: string | object, schemaType = 'AVRO'): Promise<number> {
    const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
    const payload: Record<string, string> = { schema: text };
    if (schemaType !== 'AVRO') payload.schemaType = schemaType;
    const { status, json } = await this.request('register', 'POST', `/subjects/${encodeURIComponent(subject)}/versions`, payload);
    if (status !== 200) this.fail(`register of ${subject}`, status, json);
    const id = (json as { id?: number }).id;
    if (typeof id !== 'number') this.fail(`register of ${subject}`, status, json);
    this.byId.set(id, Promise.resolve({ id, schema: text, schemaType }));
    return id;
  }

  /** The schema with this id, or a REGISTRY_ERROR with context.registryErrorCode 40403 when there is none. */
  getSchema(id: number): Promise<RegisteredSchema> {
    let p = this.byId.get(id);
    if (!p) {
      p = (async () => {
        const { status, json } = await this.request('get_schema', 'GET', `/schemas/ids/${id}`);
        if (status !== 200) this.fail(`lookup of schema id ${id}`, status, json);
        const body = json as { schema: string; schemaType?: string };
        return { id, schema: body.schema, schemaType: body.schemaType ?? 'AVRO' };
      })();
      this.byId.set(id, p);
      // A failure is not cached: the next record retries (the registry may be back).
      p.catch(() => this.byId.delete(id));
    }
    return p;
  }

  /** Subjects and versions that use the schema with this id. */
  subjectVersions(id: number): Promise<SubjectVersion[]> {
    let p = this.versionsById.get(id);
    if (!p) {
      p = (async () => {
        const { status, json } = await this.request('get_versions', 'GET', `/schemas/ids/${id}/versions`);
        if (status !== 200) this.fail(`versions of schema id ${id}`, status, json);
        return json as SubjectVersion[];
      })();
      this.versionsById.set(id, p);
      p.catch(() => this.versionsById.delete(id));
    }
    return p;
  }

  async latest(subject: string): Promise<{ id: number; version: number; schema: string } | null> {
    const { status, json } = await this.request('get_latest', 'GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
    if (status === 404) return null;
    if (status !== 200) this.fail(`latest version of ${subject}`, status, json);
    return json as { id: number; version: number; schema: string };
  }

  async subjects(): Promise<string[]> {
    const { status, json } = await this.request('list_subjects', 'GET', '/subjects');
    if (status !== 200) this.fail('listing subjects', status, json);
    return json as string[];
  }
}

export function isSchemaNotFound(err: unknown): boolean {
  return err instanceof ReprocessError && err.code === 'REGISTRY_ERROR' &&
    (err.context.registryErrorCode === SCHEMA_NOT_FOUND || err.context.registryErrorCode === SUBJECT_NOT_FOUND || err.context.status === 404);
}
