import { ReprocessError, errorMessage } from '../errors.js';
import type { RegistryEndpoint } from '../config/endpoints.js';

export type CompatibilityLevel = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

/**
 * Sets a subject's compatibility level with the Confluent API (`PUT /config/<subject>`).
 *
 * Returns 'set', or 'no-subject-rule' when the registry answers 404 for a level of NONE:
 * Apicurio's ccompat API stores NONE by deleting the subject's rule, and answers 404 (40401)
 * when the subject does not exist yet or has no rule to delete; the registry's global level
 * then applies.
 *
 * (A demo-local helper: the engine's RegistryClient has no config call, and the demo is the
 * only writer of schemas.)
 */
export async function setSubjectCompatibility(
  registry: RegistryEndpoint,
  subject: string,
  level: CompatibilityLevel,
  options: { timeoutMs?: number } = {},
): Promise<'set' | 'no-subject-rule'> {
  const headers: Record<string, string> = {
    Accept: 'application/vnd.schemaregistry.v1+json, application/json',
    'Content-Type': 'application/vnd.schemaregistry.v1+json',
  };
  if (registry.auth) {
    headers.Authorization = 'Basic ' + Buffer.from(`${registry.auth.username}:${registry.auth.password}`).toString('base64');
  }
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${registry.url}/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ compatibility: level }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    text = await res.text();
  } catch (err) {
    throw new ReprocessError('REGISTRY_UNAVAILABLE', `Cannot reach the schema registry at ${registry.url} (set by SCHEMA_REGISTRY_URL): ${errorMessage(err)}`, {
      retriable: true,
      hint: 'Start the embedded stack with `reprocess stack up`, or set SCHEMA_REGISTRY_URL to your registry.',
      context: { endpoint: registry.url, variable: 'SCHEMA_REGISTRY_URL' },
      cause: err,
    });
  }
  if (res.ok) return 'set';
  if (res.status === 404 && level === 'NONE') return 'no-subject-rule';
  throw new ReprocessError('REGISTRY_ERROR', `Setting compatibility ${level} on subject ${subject} failed (HTTP ${String(res.status)}): ${text.slice(0, 200)}`, {
    retriable: res.status >= 500,
    hint: res.status === 401 || res.status === 403 ? 'Check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD.' : 'Set the compatibility of the subject by hand, then retry.',
    context: { endpoint: registry.url, status: res.status, subject },
  });
}
