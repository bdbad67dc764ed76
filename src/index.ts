/** The library surface of kafka-reprocessor. */
export { ReprocessError, isReprocessError, type ErrorCode, type ErrorContext } from './errors.js';
export { loadEndpoints, describeEndpoints, redactUrl, type Endpoints } from './config/index.js';
export { createKafkaClient } from './kafka/index.js';
export type { KafkaClient, KafkaAdmin, Producer, Consumer, Transaction } from './kafka/index.js';
export { RegistryClient } from './registry/index.js';
export { stackUp, stackDown, stackStatus } from './stack/index.js';
export { run } from './cli/run.js';
export { resolveLive, type LiveDataset } from './reader/index.js';
export { openDatasetReader, type DatasetReader, type DatasetReaderOptions, type ReaderRecord, type ReaderStats, type SwitchEvent, type LiveTopic } from './reader/index.js';
export { Catalog } from './catalog/index.js';
export type { Transform, TransformContext } from './replay/modules.js';
