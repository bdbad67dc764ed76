import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { DecodeError, buildUpcastChain, encodeWire, partitionForKey, wireSchemaIdAt } from '../../src/core/index.js';
import { SinkEncoder, SourceDecoder, chunkFacts } from '../../src/replay/codec.js';
import { decodeEncodedBatch } from '../../src/kafka/record-batch.js';
import { processChunk, type ChunkEnv } from '../../src/replay/process.js';
import { packChunk, unpackChunk } from '../../src/replay/workers.js';
import { columnsOf } from '../../src/kafka/columns.js';
import { chunkRows, rng } from './helpers.js';

const schema = { type: 'record', name: 'E', fields: [{ name: 'v', type: 'int' }, { name: 'name', type: 'string' }, { name: 'tags', type: { type: 'array', items: 'string' } }] };
const type = avro.Type.forSchema(schema as avro.Schema);

function decoder(): SourceDecoder {
  const d = new SourceDecoder({ subject: 't-value', versionField: 'v', upcast: buildUpcastChain({ legacyIds: null, modules: null, versionField: 'v', latestVersion: 1 }) });
  d.install([{ id: 7, schema: JSON.stringify(schema), subjectVersion: 1 }]);
  return d;
}

/** What decoding gave: the event and version, or the DecodeError's reason and message. */
function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return { reason: err.reason, message: err.message };
  }
}

describe('SourceDecoder.decodeAt', () => {
  const good = encodeWire(7, type.toBuffer({ v: 1, name: 'ab', tags: ['x', 'yz'] }));
  // Each value as a record of a chunk: other records' bytes before and after it.
  const cases: [string, Buffer | null][] = [
    ['a whole value', good],
    ['a value cut short', good.subarray(0, good.length - 3)],
    ['a value with trailing bytes', Buffer.concat([good, Buffer.from([0, 0])])],
    ['a value of another format', Buffer.from('{"v":1}')],
    ['a value shorter than the wire header', Buffer.from([0, 0, 0])],
    ['an empty value', Buffer.alloc(0)],
    ['a null value', null],
    ['an unknown schema id', encodeWire(8, type.toBuffer({ v: 1, name: 'ab', tags: [] }))],
  ];
  for (const [what, value] of cases) {
    it(`reads ${what} where it lies exactly as decode reads it alone`, () => {
      const d = decoder();
      const around = Buffer.concat([Buffer.from([2, 4, 6, 8, 10]), value ?? Buffer.alloc(0), good, good]);
      const alone = outcome(() => d.decode(value === null ? null : Buffer.from(value)));
      expect(outcome(() => d.decodeAt(around, 5, value === null ? -1 : value.length))).toEqual(alone);
    });
  }

  it('says what is wrong with a body that runs into the next record', () => {
    const around = Buffer.concat([good.subarray(0, good.length - 3), good]);
    expect(outcome(() => decoder().decodeAt(around, 0, good.length - 3))).toEqual({ reason: 'bad-body', message: expect.stringContaining('truncated') as string });
    const trailing = Buffer.concat([good, Buffer.from([0]), good]);
    expect(outcome(() => decoder().decodeAt(trailing, 0, good.length + 1))).toEqual({ reason: 'bad-body', message: expect.stringContaining('trailing data') as string });
  });
});

describe('a chunk sent to a processing thread', () => {
  it('keeps offsets and timestamps the client gave as text exactly, beyond what a double holds', () => {
    const records = [
      { offset: '9007199254740993', timestamp: '1700000000000', key: Buffer.from('k'), value: Buffer.from([0, 1]) },
      { offset: '9007199254740995', timestamp: '1700000000001', key: null, value: null },
    ];
    const packed = packChunk(columnsOf(records.map((r) => ({ ...r, headers: {} }))), 2);
    expect(packed.offsets).toBeInstanceOf(Array);
    expect(chunkRows(unpackChunk(packed))).toEqual([
      ['9007199254740993', '1700000000000', '6b', '0001'],
      ['9007199254740995', '1700000000001', null, null],
    ]);
  });

  it('sends offsets and timestamps as numbers when every one is exactly a number', () => {
    const records = [
      { offset: '41', timestamp: '1700000000000', key: Buffer.from('k'), value: Buffer.from([0, 1]) },
      { offset: '9007199254740991', timestamp: '5', key: null, value: Buffer.alloc(0) },
    ];
    const packed = packChunk(columnsOf(records.map((r) => ({ ...r, headers: {} }))), 2);
    expect(packed.offsets).toBeInstanceOf(Float64Array);
    expect(packed.timestamps).toBeInstanceOf(Float64Array);
    expect(chunkRows(unpackChunk(packed))).toEqual([
      ['41', '1700000000000', '6b', '0001'],
      ['9007199254740991', '5', null, ''],
    ]);
    // Text a number would write differently (a leading zero) stays text.
    expect(packChunk(columnsOf([{ offset: '041', timestamp: '1', key: null, value: null, headers: {} }]), 2).offsets).toBeInstanceOf(Array);
  });

  it('gives the transform offsets, timestamps and keys as text and bytes, made when read, and the source header from them', async () => {
    const value = encodeWire(7, type.toBuffer({ v: 1, name: 'ab', tags: [] }));
    const seen: unknown[] = [];
    const env: ChunkEnv = {
      decoder: decoder(), encoder: new SinkEncoder(schema, 9), sourceTopic: 'src', outputKey: null, sinkPartitions: 1, maxMs: 60_000,
      transform: (event, ctx) => {
        seen.push(JSON.parse(JSON.stringify(ctx)), [ctx.offset, ctx.timestamp, ctx.key?.toString() ?? null, ctx.version, ctx.topic, ctx.partition]);
        return event;
      },
    };
    const numbers = packChunk(columnsOf([{ offset: '41', timestamp: '1700000000000', key: Buffer.from('k'), value, headers: {} }, { offset: '42', timestamp: '6', key: null, value, headers: {} }]), 3);
    const text = packChunk(columnsOf([{ offset: '9007199254740993', timestamp: '1700000000000', key: null, value, headers: {} }]), 3);
    const out = [await processChunk(env, unpackChunk(numbers), 3), await processChunk(env, unpackChunk(text), 3)];
    expect(seen).toEqual([
      { topic: 'src', partition: 3, offset: '41', timestamp: '1700000000000', key: { type: 'Buffer', data: [107] }, version: 1 }, ['41', '1700000000000', 'k', 1, 'src', 3],
      { topic: 'src', partition: 3, offset: '42', timestamp: '6', key: null, version: 1 }, ['42', '6', null, 1, 'src', 3],
      { topic: 'src', partition: 3, offset: '9007199254740993', timestamp: '1700000000000', key: null, version: 1 }, ['9007199254740993', '1700000000000', null, 1, 'src', 3],
    ]);
    const headers = out.flatMap((o) => o.batches.flatMap((b) => decodeEncodedBatch(b).map((r) => String(r.headers['reprocess.source']))));
    expect(headers).toEqual(['3:41', '3:42', '3:9007199254740993']);
  });
});

describe('processChunk output keys', () => {
  it("keys each output by the key field's UTF-8 bytes and sends it to the partition Java's partitioner picks, ASCII or not, short or long, one output or several", async () => {
    const names = ['ab', 'user-0001', 'ünïcødé-käy', '日本', 'x'.repeat(2000), 'é'.repeat(700), '', 'a\u0000b'];
    const rows = names.map((name, n) => ({ offset: String(n), timestamp: '1', key: Buffer.from('source-key'), value: encodeWire(7, type.toBuffer({ v: 1, name, tags: [] })), headers: {} }));
    for (const many of [false, true]) {
      const env: ChunkEnv = {
        decoder: decoder(), encoder: new SinkEncoder(schema, 9), sourceTopic: 'src', outputKey: 'name', sinkPartitions: 7, maxMs: 60_000,
        // Several outputs: the record itself and one keyed by its name reversed.
        transform: (event) => (many ? [event, { ...(event as { name: string }), name: [...(event as { name: string }).name].reverse().join('') }] : event),
      };
      const out = await processChunk(env, unpackChunk(packChunk(columnsOf(rows), 0)), 0);
      const got = out.batches.flatMap((b) => decodeEncodedBatch(b).map((r) => [b.partition, r.key?.toString('utf8') ?? null] as const));
      const keys = names.flatMap((name) => (many ? [name, [...name].reverse().join('')] : [name]));
      expect(got.map(([, key]) => key).sort()).toEqual([...keys].sort());
      for (const [partition, key] of got) expect(partition, JSON.stringify(key)).toBe(partitionForKey(Buffer.from(key ?? '', 'utf8'), 7));
    }
  });
});

describe('chunkFacts', () => {
  it('counts key and value bytes and names every schema id the values carry, as wireSchemaIdAt reads them', () => {
    const next = rng(3);
    const ids = [7, 7, 8, 0, 2 ** 31 - 1, -1, -(2 ** 31), 300];
    // Any four bytes after a zero byte read as an id, negative ones too (a foreign value can hold them).
    const wire = (id: number, body: Buffer): Buffer => {
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    };
    const records = Array.from({ length: 400 }, (_, n) => {
      const kind = next();
      const id = ids[Math.floor(next() * ids.length)] as number;
      const value = kind < 0.1 ? null : kind < 0.15 ? Buffer.from([0, 0, 0]) : kind < 0.2 ? Buffer.from('{"json":1}') : wire(id, Buffer.alloc(Math.floor(next() * 20)));
      return { offset: String(n), timestamp: '1', key: next() < 0.3 ? null : Buffer.alloc(Math.floor(next() * 9)), value, headers: {} };
    });
    const cols = columnsOf(records);
    const want = new Set<number>();
    let bytes = 0;
    for (const r of records) {
      bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
      const id = wireSchemaIdAt(r.value ?? Buffer.alloc(0), 0, r.value === null ? -1 : r.value.length);
      if (id !== null) want.add(id);
    }
    const facts = chunkFacts(cols);
    expect(facts.bytes).toBe(bytes);
    expect([...facts.schemaIds].sort()).toEqual([...want].sort());
    expect(want.size).toBeGreaterThan(5);
  });
});
