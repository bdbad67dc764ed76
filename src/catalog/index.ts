export { CATALOG_TOPIC, Catalog, actor, emptyDataset, withVersion, type DatasetRecord, type DatasetVersion, type HistoryEntry, type VersionState } from './catalog.js';
export { promote, promotionBlocker, rollback, type PromoteOptions } from './promotion.js';
