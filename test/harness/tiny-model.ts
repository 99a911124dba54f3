// The tiny model for tests: generated once per seed and version under .cache/ (ignored by git) and
// reused by every later run.
import { fileURLToPath } from 'node:url';
import { ensureTinyModel, type TinyModelDtype } from '../../src/llm/tiny-model/tiny-model.js';

const CACHE = fileURLToPath(new URL('../../.cache', import.meta.url));

export function tinyModelDir(seed = 1, dtype: TinyModelDtype = 'float32'): Promise<string> {
  return ensureTinyModel(CACHE, seed, dtype);
}
