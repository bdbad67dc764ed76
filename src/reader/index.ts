export { resolveLive, type LiveDataset, type ReaderDeps } from './reader.js';
export {
  openDatasetReader,
  type DatasetReader,
  type DatasetReaderOptions,
  type LiveTopic,
  type ReaderRecord,
  type ReaderStats,
  type SwitchEvent,
} from './dataset-reader.js';
export { DeliveryTracker, planSwitch, shouldDeliver, inDuplicateWindow, floorAfter, ceilingAfter, type SourceMark, type SwitchPlan, type SwitchInput, type SwitchStart, type OldPartition } from './switch.js';
