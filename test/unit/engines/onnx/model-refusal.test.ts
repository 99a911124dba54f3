// A directory that does not fit the layout is refused with an error naming what is missing or
// unexpected; --device cuda without a usable CUDA provider fails at start, never falling back to CPU.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOnnxEngine } from '../../../../src/engines/onnx/index.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
let source: string;
let scratch: string;

beforeAll(async () => {
  source = await tinyModelDir();
  scratch = await mkdtemp(join(tmpdir(), 'model-refusal-'));
}, 120_000);
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** A copy of the tiny model with `edit` applied. */
async function variant(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(scratch, name);
  await cp(source, dir, { recursive: true });
  await edit(dir);
  return dir;
}

async function editConfig(dir: string, change: (c: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  change(config);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
}

describe('model directory refusal', () => {
  test('missing files and fields are named', async () => {
    const noConfig = await variant('no-config', (d) => rm(join(d, 'config.json')));
    await expect(createOnnxEngine({ modelDir: noConfig, log })).rejects.toThrow(
      /config\.json: missing or unreadable/,
    );
    const noGraph = await variant('no-graph', (d) => rm(join(d, 'model.onnx')));
    await expect(createOnnxEngine({ modelDir: noGraph, log })).rejects.toThrow(/model\.onnx: missing/);
    const noLayers = await variant('no-layers', (d) => editConfig(d, (c) => delete c.num_hidden_layers));
    await expect(createOnnxEngine({ modelDir: noLayers, log })).rejects.toThrow(
      /config\.json: num_hidden_layers/,
    );
  });

  test('a graph that does not match config.json is refused', async () => {
    const moreLayers = await variant('more-layers', (d) => editConfig(d, (c) => (c.num_hidden_layers = 5)));
    await expect(createOnnxEngine({ modelDir: moreLayers, log })).rejects.toThrow(
      /no input "past_key_values\.4\.key"/,
    );
    const fewerLayers = await variant('fewer-layers', (d) => editConfig(d, (c) => (c.num_hidden_layers = 3)));
    await expect(createOnnxEngine({ modelDir: fewerLayers, log })).rejects.toThrow(
      /unexpected graph inputs past_key_values\.3\.key/,
    );
    const heads = await variant('heads', (d) => editConfig(d, (c) => (c.num_key_value_heads = 4)));
    await expect(createOnnxEngine({ modelDir: heads, log })).rejects.toThrow(
      /2 KV heads; config\.json says num_key_value_heads 4/,
    );
  }, 60_000);

  test('--device cuda fails at start when the CUDA provider cannot load', async () => {
    await expect(createOnnxEngine({ modelDir: source, device: 'cuda', log })).rejects.toThrow(
      /--device cuda: onnxruntime's CUDA execution provider is not usable here/,
    );
  });
});
