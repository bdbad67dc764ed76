import { Catalog } from '../catalog/index.js';
import { loadEndpoints, type Endpoints } from '../config/endpoints.js';
import { createKafkaClient, type KafkaClient } from '../kafka/index.js';
import type { Logger } from '../log.js';

export interface LiveDataset {
  dataset: string;
  version: number;
  topic: string;
}

export interface ReaderDeps {
  kafka?: KafkaClient;
  endpoints?: Endpoints;
  logger?: Logger;
}

/** The dataset's live version and topic, or null before its first promotion. */
export async function resolveLive(dataset: string, deps: ReaderDeps = {}): Promise<LiveDataset | null> {
  const kafka = deps.kafka ?? createKafkaClient(deps.endpoints ?? loadEndpoints(), deps.logger);
  try {
    const live = await new Catalog(kafka).liveVersion(dataset);
    return live === null ? null : { dataset, version: live, topic: `${dataset}_v${live}` };
  } finally {
    if (!deps.kafka) await kafka.close();
  }
}
