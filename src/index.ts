// The library entry of the package (`dist/index.js`): the public API other programs import.
export { createLogger, type Logger, type LoggerOptions } from './runtime/logger.js';
