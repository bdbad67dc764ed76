import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import avsc from 'avsc';
import { ReprocessError, errorMessage } from '../errors.js';
import { checkExpected, type ExpectedDifference } from './expected.js';
import { compareOffsets, toOffset, type Offset } from './offsets.js';
import type { LegacyIdsOptions } from './upcast.js';
import { isUuid } from './uuid.js';
import { parseYaml } from './yaml.js';
import type { JobWindow } from './window.js';

// ───────────────────────── the resolved job ─────────────────────────

export interface AvroField {
  name: string;
  type: unknown;
  [extra: string]: unknown;
}

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  fields: AvroField[];
  [extra: string]: unknown;
}

export interface RateSpec {
  recordsPerSec: number | null;
  bytesPerSec: number | null;
  burstMs: number;
  /** Back off while these production consumer groups lag by more than maxLag records. */
  adaptive: { groups: string[]; maxLag: number } | null;
}

export interface ValidateSpec {
  /** The version to compare with; null = the live version when the run starts. */
  against: number | null;
  bucketMs: number;
  tolerance: number;
  quorum: number;
  dimensions: string[];
  measures: string[];
  nulls: string[];
  expected: { path: string; items: ExpectedDifference[] } | null;
  abortOnFailure: boolean;
  abortFactor: number;
}

/** A job spec, fully resolved: absolute paths, durations in ms, rates in units per second. */
export interface JobSpec {
  /** Absolute path of the spec file; null when the spec did not come from a file. */
  specPath: string | null;
  baseDir: string;
  dataset: string;
  version: number;
  /** `${dataset}_v${version}` */
  sinkTopic: string;
  /** `${dataset}_v${version}.dlq` */
  dlqTopic: string;
  source: { topic: string; versionField: string };
  window: JobWindow;
  upcast: { legacyIds: LegacyIdsOptions | null; modulePath: string | null };
  transformPath: string;
  /** key null = keep the source record's key. */
  output: { schemaPath: string; key: string | null; partitions: number | null };
  outputSchema: AvroRecordSchema;
  dlq: { maxRatio: number };
  rate: RateSpec | null;
  transaction: { maxRecords: number; maxMs: number };
  /** Always present: without a validate section the gate still compares counts and totals. */
  validate: ValidateSpec;
  promote: 'manual' | 'auto';
}

/** Command-line values that replace the spec's (`--from`, `--to`, `--rate`). */
export interface SpecOverrides {
  /** A timestamp, or a JSON per-partition offset map like '{"0":120}'. */
  from?: string;
  to?: string;
  /** Records per second: "5000" or "5000/s" (also /m, /h). */
  rate?: string;
}

/** The spec loader's only I/O; swap it for an in-memory one to keep parseJobSpec pure. */
export interface SpecFiles {
  isFile(path: string): boolean;
  /** Throws when the file cannot be read. */
  readText(path: string): string;
}

export const nodeSpecFiles: SpecFiles = {
  isFile: (path) => {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
  readText: (path) => readFileSync(path, 'utf8'),
};

export interface ParseOptions {
  specPath?: string;
  files?: SpecFiles;
}

// ───────────────────────── value parsers ─────────────────────────

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "2s", "1.5m", "1h", "1d" → milliseconds. A bare number is refused: 2 could mean 2 ms or 2 s. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : DURATION_UNITS[m[2]];
  if (!m || unit === undefined) {
    throw new ReprocessError('SPEC_INVALID', `"${text}" is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 2s or 1d`);
  }
  return Math.round(Number(m[1]) * unit);
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A byte count: a number, or "50MiB", "1.5 GB", "512" (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). */
export function parseBytes(value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  } else {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(value.trim());
    const unit = m ? BYTE_UNITS[(m[2] ?? '').toLowerCase() || 'b'] : undefined;
    if (m && unit !== undefined) return Math.round(Number(m[1]) * unit);
  }
  throw new ReprocessError(
    'SPEC_INVALID',
    `${JSON.stringify(value)} is not a byte size: write a number with an optional unit B, KB, MB, GB, KiB, MiB or GiB, e.g. 50MiB`,
  );
}

const RATE_UNITS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600 };

/** Records per second from 5000, "5000", "5000/s", "300000/m" or "1e6/h"; must be positive. */
export function parseRate(value: string | number): number {
  let perSec: number | undefined;
  if (typeof value === 'number') perSec = value;
  else {
    const m = /^([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*(?:\/\s*(s|m|min|h))?$/i.exec(value.trim());
    const per = m ? RATE_UNITS[(m[2] ?? 's').toLowerCase()] : undefined;
    if (m && per !== undefined) perSec = Number(m[1]) / per;
  }
  if (perSec === undefined || !Number.isFinite(perSec) || perSec <= 0) {
    throw new ReprocessError('SPEC_INVALID', `${JSON.stringify(value)} is not a rate: write a positive number of records per second, e.g. 5000 or 5000/s`);
  }
  return perSec;
}

const DATE_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DATETIME_RE =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?$/;

/**
 * ISO-8601 → epoch ms. Accepts 2026-01-01 (UTC midnight) and date-times with Z or an offset.
 * A date-time without a zone is refused: which zone it means depends on the machine.
 * Checked by hand because Date.parse accepts 2026-02-30 and local times.
 */
export function parseTimestamp(text: string): number {
  const bad = (why: string): ReprocessError =>
    new ReprocessError('SPEC_INVALID', `"${text}" is not a usable timestamp: ${why}`);
  const t = text.trim();
  const d = DATE_RE.exec(t) ?? DATETIME_RE.exec(t);
  if (!d) throw bad('write ISO-8601, e.g. 2026-01-01T00:00:00Z, 2026-01-01T02:00:00+02:00 or 2026-01-01');
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(d[i] ?? 0)) as [
    number, number, number, number, number, number,
  ];
  const zone = d[8];
  if (d[4] !== undefined && zone === undefined) throw bad('add a zone (Z or an offset like +02:00); a local time is ambiguous');
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) throw bad(`${t.slice(0, 10)} is not a calendar date`);
  if (hour > 23 || minute > 59 || second > 59) throw bad('the time of day is out of range');
  let offsetMin = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const z = zone.replace(':', '');
    offsetMin = (z.startsWith('-') ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
    if (Number(z.slice(1, 3)) > 23 || Number(z.slice(3, 5)) > 59) throw bad(`the offset ${zone} is out of range`);
  }
  const millis = Number((d[7] ?? '').padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear puts them back.
  const fixed = new Date(utc);
  fixed.setUTCFullYear(year);
  return fixed.getTime() - offsetMin * 60_000;
}

// ───────────────────────── loading ─────────────────────────

/** Read, parse and validate a job spec file; every problem is reported at once in one SPEC_INVALID. */
export async function loadJobSpec(path: string, overrides: SpecOverrides = {}): Promise<JobSpec> {
  const specPath = resolve(path);
  let text: string;
  try {
    text = await readFile(specPath, 'utf8');
  } catch (err) {
    throw new ReprocessError('SPEC_INVALID', `cannot read job spec ${specPath}: ${errorMessage(err)}`, {
      hint: 'Check the path given to the command.',
      context: { file: specPath },
      cause: err,
    });
  }
  const { doc, problems } = parseYaml(text, specPath);
  if (problems.length > 0) {
    throw new ReprocessError('SPEC_INVALID', `job spec ${specPath} is not valid YAML:\n  ${problems.join('\n  ')}`, {
      hint: 'Fix the YAML syntax at the lines shown.',
      context: { file: specPath },
    });
  }
  return parseJobSpec(doc.toJS(), dirname(specPath), overrides, { specPath });
}

const TOP_KEYS = ['dataset', 'version', 'source', 'upcast', 'transform', 'output', 'dlq', 'rate', 'transaction', 'validate', 'promote'];
const SOURCE_KEYS = ['topic', 'from', 'to', 'versionField'];
const UPCAST_KEYS = ['legacyIds', 'module'];
const LEGACY_KEYS = ['fields', 'upTo', 'namespace'];
const OUTPUT_KEYS = ['schema', 'key', 'partitions'];
const DLQ_KEYS = ['maxRatio'];
const RATE_KEYS = ['records', 'bytes', 'burst', 'adaptive'];
const ADAPTIVE_KEYS = ['group', 'maxLag'];
const TRANSACTION_KEYS = ['maxRecords', 'maxMs'];
const VALIDATE_KEYS = ['against', 'bucket', 'tolerance', 'quorum', 'dimensions', 'measures', 'nulls', 'expected', 'abortOnFailure', 'abortFactor'];

const TOPIC_RE = /^[a-zA-Z0-9._-]+$/;
const MAX_TOPIC_LENGTH = 249;

/**
 * Validate a parsed spec (the YAML as plain data) into a JobSpec. Relative paths resolve against
 * baseDir; the output schema, transform, upcaster module and expected-differences file are read
 * or checked through `options.files`. Throws one SPEC_INVALID listing every problem, one a line.
 */
export function parseJobSpec(raw: unknown, baseDir: string, overrides: SpecOverrides = {}, options: ParseOptions = {}): JobSpec {
  const c = new Checker(resolve(baseDir), options.files ?? nodeSpecFiles);
  const top = c.mapping(raw, '', TOP_KEYS, true) ?? {};

  const dataset = c.need(top.dataset, 'dataset') ? c.dataset(top.dataset) : '';
  const version = c.need(top.version, 'version') ? c.positiveInt(top.version, 'version') : undefined;
  const sinkTopic = `${dataset}_v${String(version ?? 0)}`;
  const dlqTopic = `${sinkTopic}.dlq`;
  if (dataset && version !== undefined && dlqTopic.length > MAX_TOPIC_LENGTH) {
    c.fail('dataset', `too long: the DLQ topic ${dlqTopic} would exceed Kafka's ${String(MAX_TOPIC_LENGTH)}-character limit`);
  }

  // source and window
  const src = c.mapping(top.source, 'source', SOURCE_KEYS, true) ?? {};
  const topic = c.need(src.topic, 'source.topic') ? c.topic(src.topic, 'source.topic') : '';
  if (topic && (topic === sinkTopic || topic === dlqTopic)) {
    c.fail('source.topic', `${topic} is the job's own output topic; a job cannot replay into its source`);
  }
  const versionField = c.string(src.versionField, 'source.versionField') ?? 'schema_version';
  const window = c.window(src, overrides);

  // upcasting
  const up = c.mapping(top.upcast, 'upcast', UPCAST_KEYS) ?? {};
  const legacyRaw = c.mapping(up.legacyIds, 'upcast.legacyIds', LEGACY_KEYS);
  let legacyIds: LegacyIdsOptions | null = null;
  if (legacyRaw) {
    const fields = c.need(legacyRaw.fields, 'upcast.legacyIds.fields') ? c.stringList(legacyRaw.fields, 'upcast.legacyIds.fields', true) : [];
    const upTo = c.need(legacyRaw.upTo, 'upcast.legacyIds.upTo') ? c.positiveInt(legacyRaw.upTo, 'upcast.legacyIds.upTo') : undefined;
    let namespace = '';
    if (c.need(legacyRaw.namespace, 'upcast.legacyIds.namespace')) {
      const ns = c.string(legacyRaw.namespace, 'upcast.legacyIds.namespace');
      if (ns !== undefined && !isUuid(ns)) c.fail('upcast.legacyIds.namespace', `"${ns}" is not a UUID; write 8-4-4-4-12 hex digits, e.g. 6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15`);
      else namespace = (ns ?? '').toLowerCase();
    }
    legacyIds = { fields: fields ?? [], upTo: upTo ?? 1, namespace };
  }
  const modulePath = c.file(up.module, 'upcast.module') ?? null;

  const transformPath = c.need(top.transform, 'transform') ? (c.file(top.transform, 'transform') ?? '') : '';

  // output
  const out = c.mapping(top.output, 'output', OUTPUT_KEYS, true) ?? {};
  const schemaPath = c.need(out.schema, 'output.schema') ? (c.file(out.schema, 'output.schema') ?? '') : '';
  const outputSchema = schemaPath ? c.avroRecord(schemaPath, 'output.schema') : undefined;
  const fieldNames = outputSchema ? new Set(outputSchema.fields.map((f) => f.name)) : null;
  const key = c.string(out.key, 'output.key') ?? null;
  if (key !== null && fieldNames && !fieldNames.has(key)) {
    c.fail('output.key', `"${key}" is not a field of the output schema (fields: ${[...fieldNames].join(', ')})`);
  }
  const partitions = c.positiveInt(out.partitions, 'output.partitions') ?? null;

  const dlq = c.mapping(top.dlq, 'dlq', DLQ_KEYS) ?? {};
  const maxRatio = c.fraction(dlq.maxRatio, 'dlq.maxRatio') ?? 0.01;

  const rate = c.rate(top.rate, overrides.rate);

  const tx = c.mapping(top.transaction, 'transaction', TRANSACTION_KEYS) ?? {};
  // 10,000: against 5,000, half the transactions (and their markers and coordinator writes) per
  // record, which took exactly-once replays from about 0.25 to 0.28 million records/s on a 2-core
  // machine (BENCHMARKS.md); a crash repeats at most one chunk of work either way.
  const maxRecords = c.positiveInt(tx.maxRecords, 'transaction.maxRecords') ?? 10_000;
  const maxMs = c.millis(tx.maxMs, 'transaction.maxMs') ?? 1000;

  const validate = c.validate(top.validate, version, outputSchema);

  let promote: 'manual' | 'auto' = 'manual';
  if (top.promote !== undefined && top.promote !== null) {
    if (top.promote === 'manual' || top.promote === 'auto') promote = top.promote;
    else c.fail('promote', `must be "manual" or "auto", got ${show(top.promote)}`);
  }

  if (c.problems.length > 0 || outputSchema === undefined || version === undefined) {
    const where = options.specPath ? ` ${resolve(options.specPath)}` : '';
    const n = c.problems.length;
    throw new ReprocessError('SPEC_INVALID', `job spec${where} is invalid (${String(n)} problem${n === 1 ? '' : 's'}):\n  ${c.problems.join('\n  ')}`, {
      hint: 'Fix each key listed above and run the command again.',
      context: { ...(options.specPath ? { file: resolve(options.specPath) } : {}), problems: [...c.problems] },
    });
  }

  return {
    specPath: options.specPath ? resolve(options.specPath) : null,
    baseDir: c.baseDir,
    dataset,
    version,
    sinkTopic,
    dlqTopic,
    source: { topic, versionField },
    window,
    upcast: { legacyIds, modulePath },
    transformPath,
    output: { schemaPath, key, partitions },
    outputSchema,
    dlq: { maxRatio },
    rate,
    transaction: { maxRecords, maxMs },
    validate,
    promote,
  };
}

// ───────────────────────── the checker ─────────────────────────

type Obj = Record<string, unknown>;
type WindowEnd = { kind: 'time'; ms: number } | { kind: 'offsets'; map: Record<number, Offset> };

/**
 * Collects problems instead of throwing, so the user sees every one at once. Each reader returns
 * undefined when the value is absent or invalid (invalid ones are reported); the caller applies
 * the default with `??`. Nothing returned after a reported problem reaches a JobSpec.
 */
class Checker {
  readonly problems: string[] = [];

  constructor(
    readonly baseDir: string,
    private readonly files: SpecFiles,
  ) {}

  fail(path: string, why: string): void {
    this.problems.push(`${path || '(top level)'}: ${why}`);
  }

  /** Report a missing required key; true when present. */
  need(value: unknown, path: string): boolean {
    if (value !== undefined && value !== null) return true;
    this.fail(path, 'missing; it is required');
    return false;
  }

  mapping(value: unknown, path: string, allowed: readonly string[], required = false): Obj | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(path, `missing; it is required (a mapping with keys ${allowed.join(', ')})`);
      return undefined;
    }
    if (!isObj(value)) {
      this.fail(path, `must be a mapping with keys ${allowed.join(', ')}; got ${show(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(join(path, key), `unknown key; allowed ${path ? `under ${path}` : 'at the top level'}: ${allowed.join(', ')}`);
    }
    return value;
  }

  string(value: unknown, path: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      this.fail(path, `must be a non-empty string; got ${show(value)}`);
      return undefined;
    }
    return value.trim();
  }

  stringList(value: unknown, path: string, nonEmpty = false): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
      this.fail(path, `must be a list of names, e.g. [a, b]; got ${show(value)}`);
      return undefined;
    }
    const list = value.map((v: string) => v.trim());
    const dup = list.find((v, i) => list.indexOf(v) !== i);
    if (dup !== undefined) this.fail(path, `lists "${dup}" twice`);
    if (nonEmpty && list.length === 0) this.fail(path, 'must name at least one field');
    return list;
  }

  positiveInt(value: unknown, path: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      this.fail(path, `must be a positive integer; got ${show(value)}`);
      return undefined;
    }
    return value;
  }

  number(value: unknown, path: string, min: number, max = Infinity): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      const range = max === Infinity ? `≥ ${String(min)}` : `in [${String(min)}, ${String(max)}]`;
      this.fail(path, `must be a number ${range}; got ${show(value)}`);
      return undefined;
    }
    return value;
  }

  /** A ratio in [0, 1], as a number (0.005) or a percentage string ("0.5%"). */
  fraction(value: unknown, path: string): number | undefined {
    if (typeof value === 'string' && /^[0-9]+(\.[0-9]+)?\s*%$/.test(value.trim())) {
      return this.number(Number.parseFloat(value) / 100, path, 0, 1);
    }
    return this.number(value, path, 0, 1);
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      this.fail(path, `must be true or false; got ${show(value)}`);
      return undefined;
    }
    return value;
  }

  duration(value: unknown, path: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.fail(path, `must be a duration with a unit (ms, s, m, h, d), e.g. 2s; got ${show(value)}`);
      return undefined;
    }
    return this.positive(this.attempt(() => parseDuration(value), path), path);
  }

  /** A *Ms key: a number of milliseconds, or a duration string. */
  millis(value: unknown, path: string): number | undefined {
    if (typeof value === 'number') return this.positiveInt(value, path);
    return this.duration(value, path);
  }

  dataset(value: unknown): string {
    const name = this.string(value, 'dataset');
    if (name === undefined) return '';
    if (!TOPIC_RE.test(name)) {
      this.fail('dataset', `"${name}" may only contain letters, digits, '.', '_' and '-' (it becomes a Kafka topic name)`);
    } else if (/_v[0-9]+$/.test(name)) {
      this.fail('dataset', `"${name}" ends with a version suffix; name the dataset without it (e.g. "${name.replace(/_v[0-9]+$/, '')}") and set version`);
    }
    return name;
  }

  topic(value: unknown, path: string): string {
    const name = this.string(value, path);
    if (name === undefined) return '';
    if (!TOPIC_RE.test(name) || name === '.' || name === '..' || name.length > MAX_TOPIC_LENGTH) {
      this.fail(path, `"${name}" is not a legal Kafka topic name (letters, digits, '.', '_', '-'; at most 249 characters)`);
    }
    return name;
  }

  /** A path relative to the spec's directory that must name an existing file. */
  file(value: unknown, path: string): string | undefined {
    const rel = this.string(value, path);
    if (rel === undefined) return undefined;
    const abs = resolve(this.baseDir, rel);
    if (!this.files.isFile(abs)) {
      this.fail(path, `file ${abs} does not exist (paths are relative to the spec's directory ${this.baseDir})`);
      return undefined;
    }
    return abs;
  }

  read(abs: string, path: string): string | undefined {
    return this.attempt(() => this.files.readText(abs), path, (why) => `cannot read ${abs}: ${why}`);
  }

  avroRecord(abs: string, path: string): AvroRecordSchema | undefined {
    const text = this.read(abs, path);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.fail(path, `${abs} is not JSON: ${errorMessage(err)}`);
      return undefined;
    }
    if (!isObj(json) || json.type !== 'record' || !Array.isArray(json.fields)) {
      this.fail(path, `${abs} must hold an Avro record schema ({"type": "record", "name": …, "fields": […]})`);
      return undefined;
    }
    try {
      avsc.Type.forSchema(json as avsc.Schema);
    } catch (err) {
      this.fail(path, `${abs} is not a valid Avro schema: ${errorMessage(err)}`);
      return undefined;
    }
    return json as unknown as AvroRecordSchema;
  }

  window(src: Obj, overrides: SpecOverrides): JobWindow {
    const fallback: JobWindow = { kind: 'time', fromMs: 0, toMs: 0 };
    const from = this.windowEnd(src.from, overrides.from, 'source.from');
    const to = this.windowEnd(src.to, overrides.to, 'source.to');
    if (!from || !to) return fallback;
    const fromLabel = overrides.from === undefined ? 'source.from' : '--from';
    const toLabel = overrides.to === undefined ? 'source.to' : '--to';
    if (from.kind === 'time' && to.kind === 'time') {
      if (from.ms >= to.ms) {
        this.fail(fromLabel, `must be before ${toLabel} (${new Date(from.ms).toISOString()} is not before ${new Date(to.ms).toISOString()}); the window is [from, to)`);
      }
      return { kind: 'time', fromMs: from.ms, toMs: to.ms };
    }
    if (from.kind === 'offsets' && to.kind === 'offsets') {
      for (const [p, start] of Object.entries(from.map)) {
        const end = to.map[Number(p)];
        if (end !== undefined && compareOffsets(start, end) > 0) {
          this.fail(`${fromLabel}.${p}`, `offset ${start} is after ${toLabel}.${p} (${end}); the window is [from, to)`);
        }
      }
      return { kind: 'offsets', from: from.map, to: to.map };
    }
    this.fail(fromLabel, `and ${toLabel} must use the same form: both timestamps or both per-partition offset maps`);
    return fallback;
  }

  private windowEnd(value: unknown, override: string | undefined, path: string): WindowEnd | undefined {
    if (override !== undefined) {
      const flag = path === 'source.from' ? '--from' : '--to';
      const text = override.trim();
      if (!text.startsWith('{')) {
        const ms = this.attempt(() => parseTimestamp(text), flag);
        return ms === undefined ? undefined : { kind: 'time', ms };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        this.fail(flag, `is neither a timestamp nor a JSON offset map like {"0":120}: ${errorMessage(err)}`);
        return undefined;
      }
      return this.offsetMap(parsed, flag);
    }
    if (!this.need(value, path)) return undefined;
    if (value instanceof Date) return { kind: 'time', ms: value.getTime() }; // YAML 1.1 timestamps
    if (typeof value === 'string') {
      const ms = this.attempt(() => parseTimestamp(value), path);
      return ms === undefined ? undefined : { kind: 'time', ms };
    }
    if (isObj(value)) return this.offsetMap(value, path);
    this.fail(path, `must be an ISO-8601 timestamp (2026-01-01T00:00:00Z) or a per-partition offset map ({"0": 120, "1": 0}); got ${show(value)}`);
    return undefined;
  }

  private offsetMap(value: unknown, path: string): WindowEnd | undefined {
    if (!isObj(value) || Object.keys(value).length === 0) {
      this.fail(path, 'an offset map must name at least one partition, e.g. {"0": 120, "1": 0}');
      return undefined;
    }
    const map: Record<number, Offset> = {};
    let ok = true;
    for (const [p, v] of Object.entries(value)) {
      if (!/^(0|[1-9][0-9]{0,9})$/.test(p) || Number(p) > 0x7fffffff) {
        this.fail(`${path}.${p}`, 'partition keys must be non-negative integers');
        ok = false;
        continue;
      }
      const offset = toOffset(v);
      if (offset === null) {
        const big = typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v);
        this.fail(`${path}.${p}`, big ? `offset ${String(v)} is beyond 2^53 and was already rounded when read as a number; quote it as a string` : `must be a non-negative integer offset; got ${show(v)}`);
        ok = false;
        continue;
      }
      map[Number(p)] = offset;
    }
    return ok ? { kind: 'offsets', map } : undefined;
  }

  rate(value: unknown, override: string | undefined): RateSpec | null {
    const r = this.mapping(value, 'rate', RATE_KEYS);
    let records: number | undefined;
    if (r && r.records !== undefined && r.records !== null) {
      const v = r.records;
      if (typeof v === 'number' || typeof v === 'string') records = this.attempt(() => parseRate(v), 'rate.records');
      else this.fail('rate.records', `must be a number of records per second; got ${show(v)}`);
    }
    if (override !== undefined) records = this.attempt(() => parseRate(override), '--rate');
    let bytes: number | undefined;
    if (r && r.bytes !== undefined && r.bytes !== null) {
      const v = r.bytes;
      if (typeof v === 'number' || typeof v === 'string') bytes = this.positive(this.attempt(() => parseBytes(v), 'rate.bytes'), 'rate.bytes');
      else this.fail('rate.bytes', `must be a byte size per second like 50MiB; got ${show(v)}`);
    }
    if (!r && override === undefined) return null;
    const burstMs = (r && this.duration(r.burst, 'rate.burst')) ?? 1000;
    const a = r ? this.mapping(r.adaptive, 'rate.adaptive', ADAPTIVE_KEYS) : undefined;
    let adaptive: RateSpec['adaptive'] = null;
    if (a) {
      let groups: string[] = [];
      if (this.need(a.group, 'rate.adaptive.group')) {
        groups = typeof a.group === 'string' ? [a.group.trim()] : (this.stringList(a.group, 'rate.adaptive.group', true) ?? []);
      }
      const maxLag = this.need(a.maxLag, 'rate.adaptive.maxLag') ? this.positiveInt(a.maxLag, 'rate.adaptive.maxLag') : undefined;
      adaptive = { groups, maxLag: maxLag ?? 1 };
    }
    const given = (v: unknown): boolean => v !== undefined && v !== null;
    if (r && !given(r.records) && !given(r.bytes) && override === undefined) {
      this.fail('rate', 'set records and/or bytes per second (or remove rate for an unthrottled run)');
    }
    return { recordsPerSec: records ?? null, bytesPerSec: bytes ?? null, burstMs, adaptive };
  }

  validate(value: unknown, version: number | undefined, schema: AvroRecordSchema | undefined): ValidateSpec {
    const v = this.mapping(value, 'validate', VALIDATE_KEYS) ?? {};
    const against = this.positiveInt(v.against, 'validate.against') ?? null;
    if (against !== null && against === version) this.fail('validate.against', `is the job's own version ${String(version)}; compare with another version (usually the live one)`);
    const dimensions = this.stringList(v.dimensions, 'validate.dimensions') ?? [];
    const measures = this.stringList(v.measures, 'validate.measures') ?? [];
    const nulls = this.stringList(v.nulls, 'validate.nulls') ?? [];
    if (schema) {
      const fields = new Map(schema.fields.map((f) => [f.name, f.type]));
      const known = [...fields.keys()].join(', ');
      for (const [key, names] of [['dimensions', dimensions], ['measures', measures], ['nulls', nulls]] as const) {
        for (const name of names) {
          if (!fields.has(name)) this.fail(`validate.${key}`, `"${name}" is not a field of the output schema (fields: ${known})`);
          else if (key === 'measures' && !isNumericAvro(fields.get(name))) this.fail('validate.measures', `"${name}" is not numeric in the output schema; measures are summed`);
        }
      }
    }
    let expected: ValidateSpec['expected'] = null;
    const path = this.file(v.expected, 'validate.expected');
    if (path !== undefined) {
      const text = this.read(path, 'validate.expected');
      if (text !== undefined) {
        const { items, problems } = checkExpected(text, { dimensions, measures, nulls }, path);
        for (const p of problems) this.fail('validate.expected', p);
        expected = { path, items };
      }
    }
    return {
      against,
      bucketMs: this.duration(v.bucket, 'validate.bucket') ?? 86_400_000,
      tolerance: this.fraction(v.tolerance, 'validate.tolerance') ?? 0.005,
      quorum: this.fraction(v.quorum, 'validate.quorum') ?? 0.95,
      dimensions,
      measures,
      nulls,
      expected,
      abortOnFailure: this.boolean(v.abortOnFailure, 'validate.abortOnFailure') ?? false,
      abortFactor: this.number(v.abortFactor, 'validate.abortFactor', 1) ?? 10,
    };
  }

  /** Run a throwing parser; report its message under `path`. */
  private attempt<T>(fn: () => T, path: string, wrap: (why: string) => string = (why) => why): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.fail(path, wrap(errorMessage(err)));
      return undefined;
    }
  }

  private positive(value: number | undefined, path: string): number | undefined {
    if (value === undefined || value > 0) return value;
    this.fail(path, 'must be greater than zero');
    return undefined;
  }
}

const NUMERIC_AVRO = new Set(['int', 'long', 'float', 'double']);

/** int/long/float/double (logical types on them included), possibly in a union with null. */
function isNumericAvro(type: unknown): boolean {
  if (typeof type === 'string') return NUMERIC_AVRO.has(type);
  if (Array.isArray(type)) {
    const branches = type.filter((t) => t !== 'null');
    return branches.length > 0 && branches.every(isNumericAvro);
  }
  if (isObj(type)) return isNumericAvro(type.type);
  return false;
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
