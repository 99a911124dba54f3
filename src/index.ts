// The library entry of the package (`dist/index.js`): the public API other programs import.

export {
  type CallOptions,
  type ComponentScope,
  createRuntime,
  type Discovery,
  type EventPlane,
  type EventTopic,
  type Handler,
  type InstanceEvent,
  isRequestError,
  KV_EVENTS,
  LOAD_METRICS,
  MemoryHub,
  type ModelEvent,
  type RequestContext,
  RequestError,
  type RequestPlane,
  type Runtime,
  type RuntimeOptions,
  type ServedEndpoint,
  type ServeEndpointOptions,
  type StreamTuning,
  type Subscription,
  type Watch,
} from './runtime/index.js';
export { createLogger, type Logger, type LoggerOptions } from './runtime/logger.js';
export { type SystemServer, type SystemServerOptions, startSystemServer } from './runtime/system-server.js';
export {
  type BlockHashes,
  computeBlockHashes,
  computeBlockHashesRaw,
  type DecodeOptions,
  type EncodeOptions,
  hashToHex,
  hexToU64,
  IncrementalDecoder,
  type RawBlockHashes,
  Tokenizer,
  TokenizerLoadError,
} from './wasm/index.js';
