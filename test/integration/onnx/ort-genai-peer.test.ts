// The benchmark's onnxruntime-genai peer (PyPI onnxruntime-genai in the venv of
// test/python/ort-genai.txt): the genai_config.json we write for the tiny model makes it generate the
// engine's greedy tokens from the same model.onnx, batched; a directory without genai_config.json is
// refused naming the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import {
  type GenaiPeer,
  genaiConfig,
  genaiPython,
  startGenaiPeer,
  writeGenaiDir,
} from '../../../src/bench/ort-genai-peer.js';
import { createOnnxEngine } from '../../../src/engines/onnx/index.js';
import { loadModelDir } from '../../../src/llm/model-dir.js';
import { seededRandom } from '../../../src/llm/seeded-random.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

let scratch: string;
let python: string;
let peer: GenaiPeer | undefined;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ort-genai-'));
  python = await genaiPython();
}, 600_000);
afterAll(async () => {
  await peer?.close();
  await rm(scratch, { recursive: true, force: true });
});

const prompt = (seed: number, n: number): number[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 150_000));
};

describe('onnxruntime-genai peer', () => {
  test('generates the engine greedy tokens from the same model.onnx, batched', async () => {
    const model = await loadModelDir(await tinyModelDir());
    const config = genaiConfig(model, { positionIds: true }, 1);
    expect(config).toMatchObject({
      model: {
        type: 'qwen3',
        decoder: { num_hidden_layers: 4, num_key_value_heads: 2, head_size: 16, filename: 'model.onnx' },
      },
      search: { past_present_share_buffer: false },
    });
    peer = await startGenaiPeer(python, await writeGenaiDir(model, config, join(scratch, 'tiny')));
    const prompts = [prompt(1, 24), prompt(2, 24), prompt(3, 24)];
    const genai = await peer.generate(prompts, 10);
    const engine = await createOnnxEngine({
      modelDir: model.dir,
      log: createLogger({ level: 'silent' }),
      threads: 1,
    });
    try {
      for (const [i, tokenIds] of prompts.entries()) {
        const request: GenerateRequest = {
          requestId: `r${i}`,
          model: 'tiny',
          tokenIds,
          sampling: {},
          stop: { maxTokens: 10, ignoreEos: true },
        };
        const ours: number[] = [];
        for await (const f of engine.generate(request, new AbortController().signal))
          ours.push(...f.tokenIds);
        expect(genai.tokens[i]).toEqual(ours);
      }
    } finally {
      await engine.close();
    }
    expect(genai.endMs).toBeGreaterThan(0);
  }, 120_000);

  test('a directory without genai_config.json is refused naming the file', async () => {
    const empty = join(scratch, 'empty');
    await expect(startGenaiPeer(python, empty)).rejects.toThrow(/empty\/genai_config\.json: missing/);
  });
});
