// The worker: serves one engine on the runtime (see worker.ts).
export {
  DEFAULT_MOCKER_MODEL_NAME,
  defaultTokenizerDir,
  type ParsedWorkerConfig,
  type WorkerConfig,
  workerConfigSchema,
} from './config.js';
export { KvEventPublisher } from './kv-publisher.js';
export { loadModelFiles, type ModelFiles, modelFileFrames } from './model-files.js';
export { startWorker, type Worker, WorkerConfigError } from './worker.js';
