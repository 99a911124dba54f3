// The library entry of the package (`dist/index.js`): the public API other programs import.
export { createLogger, type Logger, type LoggerOptions } from './runtime/logger.js';
export {
  type BlockHashes,
  computeBlockHashes,
  computeBlockHashesRaw,
  hashToHex,
  hexToU64,
  type RawBlockHashes,
} from './wasm/index.js';
