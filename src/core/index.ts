/**
 * The pure core: no Kafka, Redis or HTTP. Adapters and the CLI build on these.
 * (The spec loader is the one part that reads files: the spec and the files it names.)
 */
export { DecodeError, type DecodeFailureReason } from './decode-error.js';
export { checkExpected, parseExpected, type ExpectedDifference, type ExpectedVocabulary } from './expected.js';
export {
  addOffset,
  compareOffsets,
  isOffset,
  maxOffset,
  minOffset,
  offsetDistance,
  toOffset,
  type Offset,
} from './offsets.js';
export { murmur2, partitionForKey, toPositive } from './partitioner.js';
export {
  loadJobSpec,
  nodeSpecFiles,
  parseBytes,
  parseDuration,
  parseJobSpec,
  parseRate,
  parseTimestamp,
  type AvroField,
  type AvroRecordSchema,
  type JobSpec,
  type ParseOptions,
  type RateSpec,
  type SpecFiles,
  type SpecOverrides,
  type ValidateSpec,
} from './spec.js';
export {
  buildUpcastChain,
  legacyIdToUuid,
  readVersion,
  toUpcasterMap,
  type Event,
  type LegacyIdsOptions,
  type Upcasted,
  type UpcastChainOptions,
  type UpcastFn,
  type Upcaster,
  type UpcasterMap,
} from './upcast.js';
export { isUuid, uuidv5 } from './uuid.js';
export {
  planSummary,
  resolveOffsetWindow,
  resolveTimeWindow,
  type JobWindow,
  type PartitionRange,
  type PlanRate,
  type PlanSummary,
  type TimeLookup,
  type Watermarks,
} from './window.js';
export { WIRE_HEADER_BYTES, WIRE_MAGIC, decodeWireHeader, encodeWire, wireSchemaId, wireSchemaIdAt, type WireMessage } from './wire.js';
