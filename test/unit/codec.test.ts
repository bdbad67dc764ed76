import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { DecodeError, buildUpcastChain, encodeWire } from '../../src/core/index.js';
import { SourceDecoder } from '../../src/replay/codec.js';
import { rawView } from '../../src/kafka/kafkajs-records.js';
import { PackedRecord, packChunk, unpackChunk, type PackedChunk } from '../../src/replay/workers.js';

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
    const packed = packChunk(records, 2);
    expect(packed.offsets).toBeInstanceOf(Array);
    const out = unpackChunk(packed);
    expect(out.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString('hex') ?? null])).toEqual([
      ['9007199254740993', '1700000000000', 'k', '0001'],
      ['9007199254740995', '1700000000001', null, null],
    ]);
    expect(out[0]).toBeInstanceOf(PackedRecord);
    const view = rawView(out[0] as PackedRecord);
    expect(view?.buffer.subarray(view.valueStart, view.valueStart + view.valueLength).toString('hex')).toBe('0001');
    expect(rawView(records[0] as never)).toBeNull();
  });

  it('reads numbers as numbers and makes the same strings', () => {
    const chunk: PackedChunk = {
      partition: 0, offsets: new Float64Array([41, 42]), timestamps: new Float64Array([5, 6]), bytes: new Uint8Array([1, 2, 3]).buffer, index: new Int32Array([0, 1, 1, 2, 3, -1, 3, -1]),
    };
    const out = unpackChunk(chunk);
    expect(out.map((r) => [r.offset, r.timestamp, r.key?.toString('hex') ?? null, r.value?.toString('hex') ?? null])).toEqual([
      ['41', '5', '01', '0203'],
      ['42', '6', null, null],
    ]);
  });
});
