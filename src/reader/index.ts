export { resolveLive, type LiveDataset, type ReaderDeps } from './reader.js';
