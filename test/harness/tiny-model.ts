// The tiny model for tests: generated once per seed and version under .cache/ (ignored by git), reused
// by every later run. Concurrent test files race safely: each writes a private temp directory and
// renames it into place; the loser's rename fails and it uses the winner's copy.
import { access, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TINY_MODEL_VERSION, writeTinyModel } from '../../src/llm/tiny-model/tiny-model.js';

const CACHE = fileURLToPath(new URL('../../.cache', import.meta.url));

export async function tinyModelDir(seed = 1): Promise<string> {
  const dir = join(CACHE, `tiny-model-${seed}-v${TINY_MODEL_VERSION}`);
  const ready = await access(join(dir, 'model.onnx')).then(
    () => true,
    () => false,
  );
  if (ready) return dir;
  await mkdir(CACHE, { recursive: true });
  const tmp = await mkdtemp(join(CACHE, `.tiny-model-${seed}-`));
  await writeTinyModel({ outDir: tmp, seed });
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}
