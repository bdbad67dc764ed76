import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYamlText } from 'yaml';
import {
  catchError,
  loadJobSpec,
  parseBytes,
  parseDuration,
  parseJobSpec,
  parseRate,
  parseTimestamp,
  type SpecFiles,
  type SpecOverrides,
} from './helpers.js';

const SCHEMA = {
  type: 'record',
  name: 'UserEngagement',
  namespace: 'com.example',
  fields: [
    { name: 'user_id', type: 'string' },
    { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'country', type: ['null', 'string'], default: null },
    { name: 'product_category', type: 'string' },
    { name: 'user_segment', type: 'string' },
    { name: 'revenue', type: ['null', 'double'], default: null },
  ],
};

const FULL_SPEC = `
dataset: user_engagement            # versions live in topics user_engagement_v<N>
version: 3
source:
  topic: events
  from: 2026-01-01T00:00:00Z
  to: 2026-04-01T00:00:00Z
  versionField: schema_version
upcast:
  legacyIds:
    fields: [user_id]
    upTo: 1
    namespace: 6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15
  module: ./upcasters.ts
transform: ./transforms/v3.ts
output:
  schema: ./schemas/user_engagement-v3.avsc
  key: user_id
  partitions: 6
dlq:
  maxRatio: 0.01
rate:
  records: 20000
  bytes: 50MiB
  burst: 2s
  adaptive: { group: prod-consumers, maxLag: 50000 }
transaction: { maxRecords: 5000, maxMs: 1000 }
validate:
  against: 2
  bucket: 1d
  tolerance: 0.005
  quorum: 0.95
  dimensions: [country, product_category, user_segment]
  measures: [revenue]
  nulls: [country]
  expected: ./expected-differences.yaml
  abortOnFailure: false
  abortFactor: 10
promote: manual
`;

const EXPECTED = `- dimension: country
  value: DE
  metric: revenue
  max: 0.08
  reason: VAT was double-counted in v2
`;

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'reprocess-spec-'));
  mkdirSync(join(dir, 'schemas'));
  mkdirSync(join(dir, 'transforms'));
  writeFileSync(join(dir, 'schemas/user_engagement-v3.avsc'), JSON.stringify(SCHEMA));
  writeFileSync(join(dir, 'transforms/v3.ts'), 'export default (event: unknown) => event;\n');
  writeFileSync(join(dir, 'upcasters.ts'), 'export default { 1: (e: Record<string, unknown>) => e };\n');
  writeFileSync(join(dir, 'expected-differences.yaml'), EXPECTED);
  writeFileSync(join(dir, 'job.yaml'), FULL_SPEC);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Raw = Record<string, unknown>;

/** The full example as data, for tests that change one thing. */
function fullSpec(): Raw {
  return parseYamlText(FULL_SPEC) as Raw;
}

/** A minimal valid spec. */
function minimalSpec(): Raw {
  return {
    dataset: 'user_engagement',
    version: 3,
    source: { topic: 'events', from: '2026-01-01', to: '2026-02-01' },
    transform: './transforms/v3.ts',
    output: { schema: './schemas/user_engagement-v3.avsc' },
  };
}

function section(raw: Raw, key: string): Raw {
  const value = raw[key];
  if (typeof value !== 'object' || value === null) throw new Error(`test spec has no ${key} section`);
  return value as Raw;
}

const parse = (raw: unknown, overrides?: SpecOverrides) => parseJobSpec(raw, dir, overrides);
const problemsOf = (raw: unknown, overrides?: SpecOverrides): string =>
  catchError(() => parse(raw, overrides), 'SPEC_INVALID').message;

describe('loadJobSpec', () => {
  it('resolves the full example', async () => {
    const spec = await loadJobSpec(join(dir, 'job.yaml'));
    expect(spec).toEqual({
      specPath: join(dir, 'job.yaml'),
      baseDir: dir,
      dataset: 'user_engagement',
      version: 3,
      sinkTopic: 'user_engagement_v3',
      dlqTopic: 'user_engagement_v3.dlq',
      source: { topic: 'events', versionField: 'schema_version' },
      window: { kind: 'time', fromMs: Date.UTC(2026, 0, 1), toMs: Date.UTC(2026, 3, 1) },
      upcast: {
        legacyIds: { fields: ['user_id'], upTo: 1, namespace: '6f1c4e8a-5b7d-4c2e-9a31-0d8e2f7b6c15' },
        modulePath: join(dir, 'upcasters.ts'),
      },
      transformPath: join(dir, 'transforms/v3.ts'),
      output: { schemaPath: join(dir, 'schemas/user_engagement-v3.avsc'), key: 'user_id', partitions: 6 },
      outputSchema: SCHEMA,
      dlq: { maxRatio: 0.01 },
      rate: {
        recordsPerSec: 20000,
        bytesPerSec: 50 * 1024 * 1024,
        burstMs: 2000,
        adaptive: { groups: ['prod-consumers'], maxLag: 50000 },
      },
      transaction: { maxRecords: 5000, maxMs: 1000 },
      validate: {
        against: 2,
        bucketMs: 86_400_000,
        tolerance: 0.005,
        quorum: 0.95,
        dimensions: ['country', 'product_category', 'user_segment'],
        measures: ['revenue'],
        nulls: ['country'],
        expected: {
          path: join(dir, 'expected-differences.yaml'),
          items: [{ dimension: 'country', value: 'DE', metric: 'revenue', max: 0.08, reason: 'VAT was double-counted in v2', line: 1 }],
        },
        abortOnFailure: false,
        abortFactor: 10,
      },
      promote: 'manual',
    });
  });

  it('applies command-line overrides', async () => {
    const spec = await loadJobSpec(join(dir, 'job.yaml'), { from: '2026-02-01', to: '2026-02-15T12:00:00+02:00', rate: '5000/s' });
    expect(spec.window).toEqual({ kind: 'time', fromMs: Date.UTC(2026, 1, 1), toMs: Date.UTC(2026, 1, 15, 10) });
    expect(spec.rate).toMatchObject({ recordsPerSec: 5000, bytesPerSec: 50 * 1024 * 1024, burstMs: 2000 });
  });

  it('reports a missing file and YAML syntax errors with their line', async () => {
    await expect(loadJobSpec(join(dir, 'nope.yaml'))).rejects.toMatchObject({ code: 'SPEC_INVALID', message: expect.stringContaining('cannot read job spec') });
    writeFileSync(join(dir, 'broken.yaml'), 'dataset: x\nsource: [a\n');
    await expect(loadJobSpec(join(dir, 'broken.yaml'))).rejects.toMatchObject({
      code: 'SPEC_INVALID',
      message: expect.stringMatching(/broken\.yaml:\d+: YAML syntax/),
    });
  });

  it('names the spec file in validation errors', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'dataset: user_engagement\n');
    await expect(loadJobSpec(join(dir, 'bad.yaml'))).rejects.toMatchObject({
      message: expect.stringContaining(`job spec ${join(dir, 'bad.yaml')} is invalid`),
      context: { file: join(dir, 'bad.yaml') },
    });
  });
});

describe('parseJobSpec defaults', () => {
  it('fills every default for a minimal spec', () => {
    const spec = parse(minimalSpec());
    expect(spec.specPath).toBeNull();
    expect(spec.source.versionField).toBe('schema_version');
    expect(spec.upcast).toEqual({ legacyIds: null, modulePath: null });
    expect(spec.output).toMatchObject({ key: null, partitions: null });
    expect(spec.dlq.maxRatio).toBe(0.01);
    expect(spec.rate).toBeNull();
    expect(spec.transaction).toEqual({ maxRecords: 10_000, maxMs: 1000 });
    expect(spec.validate).toEqual({
      against: null,
      bucketMs: 86_400_000,
      tolerance: 0.005,
      quorum: 0.95,
      dimensions: [],
      measures: [],
      nulls: [],
      expected: null,
      abortOnFailure: false,
      abortFactor: 10,
    });
    expect(spec.promote).toBe('manual');
  });

  it('creates a records/s rate from --rate when the spec has none', () => {
    expect(parse(minimalSpec(), { rate: '300/m' }).rate).toEqual({ recordsPerSec: 5, bytesPerSec: null, burstMs: 1000, adaptive: null });
    expect(parse(minimalSpec(), { rate: '5000' }).rate?.recordsPerSec).toBe(5000);
  });

  it('reads files through an injected SpecFiles, so it can run without a disk', () => {
    const files: SpecFiles = {
      isFile: (p) => p.startsWith('/virtual/'),
      readText: (p) => {
        if (p === '/virtual/s.avsc') return JSON.stringify(SCHEMA);
        throw new Error(`ENOENT ${p}`);
      },
    };
    const raw = { ...minimalSpec(), transform: 't.ts', output: { schema: 's.avsc', key: 'country' } };
    const spec = parseJobSpec(raw, '/virtual', {}, { files, specPath: '/virtual/job.yaml' });
    expect(spec.transformPath).toBe('/virtual/t.ts');
    expect(spec.output.key).toBe('country');
    expect(spec.specPath).toBe('/virtual/job.yaml');
  });
});

describe('parseJobSpec validation', () => {
  it('refuses unknown keys at every level, naming the path and the allowed keys', () => {
    const raw = fullSpec();
    raw.colour = 'blue';
    section(raw, 'source').form = '2026-01-01';
    section(section(raw, 'rate'), 'adaptive').maxlag = 1;
    const m = problemsOf(raw);
    expect(m).toContain('colour: unknown key; allowed at the top level: dataset, version, source, upcast, transform, output, dlq, rate, transaction, validate, promote');
    expect(m).toContain('source.form: unknown key; allowed under source: topic, from, to, versionField');
    expect(m).toContain('rate.adaptive.maxlag: unknown key; allowed under rate.adaptive: group, maxLag');
  });

  const required: Array<[string, (raw: Raw) => void]> = [
    ['dataset', (r) => delete r.dataset],
    ['version', (r) => delete r.version],
    ['source', (r) => delete r.source],
    ['source.topic', (r) => delete section(r, 'source').topic],
    ['source.from', (r) => delete section(r, 'source').from],
    ['source.to', (r) => delete section(r, 'source').to],
    ['transform', (r) => delete r.transform],
    ['output', (r) => delete r.output],
    ['output.schema', (r) => delete section(r, 'output').schema],
    ['upcast.legacyIds.namespace', (r) => delete section(section(r, 'upcast'), 'legacyIds').namespace],
    ['rate.adaptive.group', (r) => delete section(section(r, 'rate'), 'adaptive').group],
  ];
  it.each(required)('reports a missing %s', (path, remove) => {
    const raw = fullSpec();
    remove(raw);
    expect(problemsOf(raw)).toMatch(new RegExp(`^  ${path.replaceAll('.', '\\.')}: missing; it is required`, 'm'));
  });

  it('collects every problem into one error, one per line', () => {
    const raw = minimalSpec();
    raw.version = 0;
    raw.promote = 'sometimes';
    section(raw, 'source').topic = 'bad topic!';
    const err = catchError(() => parse(raw), 'SPEC_INVALID');
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('job spec is invalid (3 problems):');
    expect(lines.slice(1)).toEqual([
      '  version: must be a positive integer; got number 0',
      '  source.topic: "bad topic!" is not a legal Kafka topic name (letters, digits, \'.\', \'_\', \'-\'; at most 249 characters)',
      '  promote: must be "manual" or "auto", got "sometimes"',
    ]);
    expect(err.context.problems).toHaveLength(3);
    expect(err.hint).toBeTruthy();
  });

  it('refuses a spec that is not a mapping', () => {
    expect(problemsOf(['a'])).toContain('(top level): must be a mapping');
    expect(problemsOf(null)).toContain('(top level): missing');
  });

  it('checks the dataset name', () => {
    expect(problemsOf({ ...minimalSpec(), dataset: 'user_engagement_v2' })).toContain(
      'dataset: "user_engagement_v2" ends with a version suffix; name the dataset without it (e.g. "user_engagement")',
    );
    expect(problemsOf({ ...minimalSpec(), dataset: 'user engagement' })).toContain('dataset: "user engagement" may only contain');
    expect(problemsOf({ ...minimalSpec(), dataset: 'x'.repeat(245) })).toContain("exceed Kafka's 249-character limit");
  });

  it('refuses a source topic that is the job\'s own output', () => {
    const raw = minimalSpec();
    section(raw, 'source').topic = 'user_engagement_v3';
    expect(problemsOf(raw)).toContain('source.topic: user_engagement_v3 is the job\'s own output topic');
  });

  it.each([
    ['yesterday', 'write ISO-8601'],
    ['2026-13-01', 'not a calendar date'],
    ['2026-02-30', 'not a calendar date'],
    ['2026-01-01T00:00:00', 'add a zone'],
    ['2026-01-01T25:00:00Z', 'out of range'],
  ])('refuses the timestamp %j', (from, why) => {
    const raw = minimalSpec();
    section(raw, 'source').from = from;
    expect(problemsOf(raw)).toMatch(new RegExp(`source\\.from: "${from}" is not a usable timestamp: .*${why}`));
  });

  it('refuses a non-timestamp, non-map window end', () => {
    const raw = minimalSpec();
    section(raw, 'source').to = 12345;
    expect(problemsOf(raw)).toContain('source.to: must be an ISO-8601 timestamp (2026-01-01T00:00:00Z) or a per-partition offset map');
  });

  it('refuses from ≥ to for timestamps', () => {
    const raw = minimalSpec();
    section(raw, 'source').from = '2026-02-01T00:00:00Z';
    expect(problemsOf(raw)).toContain('source.from: must be before source.to (2026-02-01T00:00:00.000Z is not before 2026-02-01T00:00:00.000Z)');
    expect(problemsOf(minimalSpec(), { from: '2026-03-01' })).toContain('--from: must be before source.to');
  });

  it('accepts per-partition offset maps with numbers or numeric strings, kept as decimal strings', () => {
    const raw = minimalSpec();
    section(raw, 'source').from = { '0': 120, '1': '0' };
    section(raw, 'source').to = { '0': '9223372036854775807', '1': 50, '2': 10 };
    expect(parse(raw).window).toEqual({
      kind: 'offsets',
      from: { 0: '120', 1: '0' },
      to: { 0: '9223372036854775807', 1: '50', 2: '10' },
    });
  });

  it('refuses bad offset maps, naming the partition', () => {
    const raw = minimalSpec();
    section(raw, 'source').from = { '0': -1, x: 3, '2': 2 ** 60, '3': 1.5 };
    section(raw, 'source').to = {};
    const m = problemsOf(raw);
    expect(m).toContain('source.from.0: must be a non-negative integer offset; got number -1');
    expect(m).toContain('source.from.x: partition keys must be non-negative integers');
    expect(m).toContain('source.from.2: offset 1152921504606847000 is beyond 2^53 and was already rounded when read as a number; quote it as a string');
    expect(m).toContain('source.from.3: must be a non-negative integer offset');
    expect(m).toContain('source.to: an offset map must name at least one partition');
  });

  it('refuses an offset map whose from is after its to for a partition', () => {
    const raw = minimalSpec();
    section(raw, 'source').from = { '0': 500, '1': 0 };
    section(raw, 'source').to = { '0': 400, '1': 0 };
    const m = problemsOf(raw);
    expect(m).toContain('source.from.0: offset 500 is after source.to.0 (400)');
    expect(m).not.toContain('source.from.1');
  });

  it('refuses mixing a timestamp with an offset map', () => {
    const raw = minimalSpec();
    section(raw, 'source').to = { '0': 10 };
    expect(problemsOf(raw)).toContain('source.from: and source.to must use the same form');
  });

  it('takes --from/--to as timestamps or JSON offset maps', () => {
    const raw = minimalSpec();
    expect(parse(raw, { from: '{"0":120,"1":"7"}', to: '{"0":200}' }).window).toEqual({
      kind: 'offsets',
      from: { 0: '120', 1: '7' },
      to: { 0: '200' },
    });
    expect(problemsOf(raw, { from: '{"0":120' })).toContain('--from: is neither a timestamp nor a JSON offset map');
    expect(problemsOf(raw, { to: 'tomorrow' })).toContain('--to: "tomorrow" is not a usable timestamp');
    expect(problemsOf(raw, { to: '{"0":1}' })).toContain('source.from: and --to must use the same form');
    expect(problemsOf(raw, { rate: 'fast' })).toContain('--rate: "fast" is not a rate');
  });

  it('checks the upcast section', () => {
    const raw = fullSpec();
    const legacy = section(section(raw, 'upcast'), 'legacyIds');
    legacy.namespace = 'not-a-uuid';
    legacy.fields = [];
    legacy.upTo = 0;
    section(raw, 'upcast').module = './missing.ts';
    const m = problemsOf(raw);
    expect(m).toContain('upcast.legacyIds.namespace: "not-a-uuid" is not a UUID');
    expect(m).toContain('upcast.legacyIds.fields: must name at least one field');
    expect(m).toContain('upcast.legacyIds.upTo: must be a positive integer');
    expect(m).toContain(`upcast.module: file ${join(dir, 'missing.ts')} does not exist`);
  });

  it('checks the output schema file and key', () => {
    writeFileSync(join(dir, 'not-json.avsc'), '{ nope');
    writeFileSync(join(dir, 'enum.avsc'), JSON.stringify({ type: 'enum', name: 'E', symbols: ['A'] }));
    writeFileSync(join(dir, 'bad-type.avsc'), JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'strin' }] }));
    const withSchema = (schema: string, key?: string): Raw => ({ ...minimalSpec(), output: { schema, ...(key ? { key } : {}) } });
    expect(problemsOf(withSchema('./not-json.avsc'))).toContain('output.schema: ' + join(dir, 'not-json.avsc') + ' is not JSON');
    expect(problemsOf(withSchema('./enum.avsc'))).toContain('must hold an Avro record schema');
    expect(problemsOf(withSchema('./bad-type.avsc'))).toContain('is not a valid Avro schema');
    expect(problemsOf(withSchema('./nope.avsc'))).toContain('output.schema: file');
    expect(problemsOf(withSchema('./schemas/user_engagement-v3.avsc', 'userid'))).toContain(
      'output.key: "userid" is not a field of the output schema (fields: user_id, event_time, country, product_category, user_segment, revenue)',
    );
  });

  it('checks the transform file exists', () => {
    expect(problemsOf({ ...minimalSpec(), transform: './transforms/v4.ts' })).toContain(`transform: file ${join(dir, 'transforms/v4.ts')} does not exist`);
  });

  it('checks rates, durations and ratios', () => {
    const raw = fullSpec();
    Object.assign(section(raw, 'rate'), { records: 0, bytes: '50 parsecs', burst: 2 });
    Object.assign(section(raw, 'dlq'), { maxRatio: 1.5 });
    Object.assign(section(raw, 'transaction'), { maxMs: '1 fortnight', maxRecords: 2.5 });
    const m = problemsOf(raw);
    expect(m).toContain('rate.records: 0 is not a rate');
    expect(m).toContain('rate.bytes: "50 parsecs" is not a byte size');
    expect(m).toContain('rate.burst: must be a duration with a unit');
    expect(m).toContain('dlq.maxRatio: must be a number in [0, 1]; got number 1.5');
    expect(m).toContain('transaction.maxMs: "1 fortnight" is not a duration');
    expect(m).toContain('transaction.maxRecords: must be a positive integer');
  });

  it('requires records or bytes in a rate section, and accepts percentages and duration strings', () => {
    expect(problemsOf({ ...minimalSpec(), rate: { burst: '1s' } })).toContain('rate: set records and/or bytes per second');
    const spec = parse({
      ...minimalSpec(),
      rate: { bytes: '1.5 GB', adaptive: { group: ['a', 'b'], maxLag: 10 } },
      dlq: { maxRatio: '2%' },
      transaction: { maxMs: '2s' },
      validate: { tolerance: '0.5%', bucket: '6h' },
    });
    expect(spec.rate).toEqual({ recordsPerSec: null, bytesPerSec: 1.5e9, burstMs: 1000, adaptive: { groups: ['a', 'b'], maxLag: 10 } });
    expect(spec.dlq.maxRatio).toBeCloseTo(0.02);
    expect(spec.transaction.maxMs).toBe(2000);
    expect(spec.validate.tolerance).toBeCloseTo(0.005);
    expect(spec.validate.bucketMs).toBe(6 * 3_600_000);
  });

  it('checks the validate section against the output schema and the expected-differences file', () => {
    writeFileSync(join(dir, 'bad-expected.yaml'), '- dimension: device\n  metric: count\n  reason: x\n');
    const raw = fullSpec();
    Object.assign(section(raw, 'validate'), {
      against: 3,
      dimensions: ['country', 'city'],
      measures: ['user_segment'],
      quorum: 2,
      abortFactor: 0.5,
      expected: './bad-expected.yaml',
    });
    const m = problemsOf(raw);
    expect(m).toContain("validate.against: is the job's own version 3");
    expect(m).toContain('validate.dimensions: "city" is not a field of the output schema');
    expect(m).toContain('validate.measures: "user_segment" is not numeric in the output schema');
    expect(m).toContain('validate.quorum: must be a number in [0, 1]');
    expect(m).toContain('validate.abortFactor: must be a number ≥ 1');
    expect(m).toContain(`validate.expected: ${join(dir, 'bad-expected.yaml')}:1: item 1, dimension: "device" is not in validate.dimensions (country, city)`);
  });

  it('refuses duplicate names in lists', () => {
    const raw = fullSpec();
    section(raw, 'validate').dimensions = ['country', 'country'];
    expect(problemsOf(raw)).toContain('validate.dimensions: lists "country" twice');
  });
});

describe('value parsers', () => {
  it('parseDuration', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration(' 1d ')).toBe(86_400_000);
    for (const bad of ['2', '2 weeks', '-1s', 's', '']) catchError(() => parseDuration(bad), 'SPEC_INVALID');
  });

  it('parseBytes', () => {
    expect(parseBytes(1024)).toBe(1024);
    expect(parseBytes('512')).toBe(512);
    expect(parseBytes('10B')).toBe(10);
    expect(parseBytes('2KB')).toBe(2000);
    expect(parseBytes('50MiB')).toBe(52_428_800);
    expect(parseBytes('1.5 GB')).toBe(1_500_000_000);
    expect(parseBytes('1GiB')).toBe(1_073_741_824);
    expect(parseBytes('3kib')).toBe(3072);
    for (const bad of [-1, Number.NaN, '5 XB', 'MiB', '-5MB']) catchError(() => parseBytes(bad), 'SPEC_INVALID');
  });

  it('parseRate', () => {
    expect(parseRate(5000)).toBe(5000);
    expect(parseRate('5000')).toBe(5000);
    expect(parseRate('5000/s')).toBe(5000);
    expect(parseRate('6000/m')).toBe(100);
    expect(parseRate('7200/h')).toBe(2);
    for (const bad of [0, -5, '0/s', 'fast', '5000/d']) catchError(() => parseRate(bad), 'SPEC_INVALID');
  });

  it('parseTimestamp', () => {
    expect(parseTimestamp('2026-01-01')).toBe(Date.UTC(2026, 0, 1));
    expect(parseTimestamp('2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1));
    expect(parseTimestamp('2026-01-01T01:30:00+01:30')).toBe(Date.UTC(2026, 0, 1));
    expect(parseTimestamp('2025-12-31T19:00:00-0500')).toBe(Date.UTC(2026, 0, 1));
    expect(parseTimestamp('2026-03-04T05:06:07.891Z')).toBe(Date.UTC(2026, 2, 4, 5, 6, 7, 891));
    expect(parseTimestamp('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    for (const bad of ['2025-02-29', '2026-1-1', '2026-01-01T00:00Z+', '2026-01-01T00:00:00+25:00', '1735689600000']) {
      catchError(() => parseTimestamp(bad), 'SPEC_INVALID');
    }
  });
});
