// --device cuda. Where onnxruntime's CUDA provider loads (a GPU host after scripts/gpu-check.sh), the
// engine runs on it and its greedy output is the CPU engine's; where it does not, --device cuda fails
// at start naming the cause, never falling back to the CPU. Whichever half cannot run here is skipped
// with its reason printed.
import { afterAll, describe, expect, test } from 'vitest';
import type { GenerateRequest } from '../../../../src/api/index.js';
import { probeCudaProvider } from '../../../../src/engines/onnx/cuda-provider.js';
import { createOnnxEngine, type OnnxEngine } from '../../../../src/engines/onnx/index.js';
import { loadModelDir } from '../../../../src/llm/model-dir.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
const source = await tinyModelDir();
const cuda = await probeCudaProvider((await loadModelDir(source)).modelPath);
if (cuda.available)
  console.warn('onnx-cuda: the CUDA provider loads; the --device cuda failure test is skipped');
else console.warn(`onnx-cuda: the CUDA provider does not load, its engine test is skipped: ${cuda.reason}`);

const engines: OnnxEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

function prompt(seed: number, length: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length }, () => Math.floor(random() * 151_000));
}

async function run(e: OnnxEngine, tokenIds: number[]): Promise<{ tokens: number[]; cached: number }> {
  const request: GenerateRequest = {
    requestId: 'r',
    model: 'tiny',
    tokenIds,
    sampling: {},
    stop: { maxTokens: 8 },
  };
  const tokens: number[] = [];
  let cached = -1;
  for await (const frame of e.generate(request, new AbortController().signal)) {
    if (cached < 0) cached = frame.cachedTokens ?? 0;
    tokens.push(...frame.tokenIds);
  }
  return { tokens, cached };
}

describe('--device cuda', () => {
  test.skipIf(!cuda.available)(
    'runs on the CUDA provider: the CPU greedy output, batched and cached',
    async () => {
      const gpu = await createOnnxEngine({ modelDir: source, device: 'cuda', log });
      const cpu = await createOnnxEngine({ modelDir: source, log, threads: 1 });
      engines.push(gpu, cpu);
      const shared = prompt(1, 48);
      const prompts = [[...shared, ...prompt(2, 5)], [...shared, ...prompt(3, 9)], prompt(4, 30)];
      const expected: number[][] = [];
      for (const p of prompts) expected.push((await run(cpu, p)).tokens);
      const batched = await Promise.all(prompts.map((p) => run(gpu, p)));
      expect(batched.map((r) => r.tokens)).toEqual(expected);
      const again = await run(gpu, prompts[1] as number[]);
      expect(again.cached).toBe(48);
      expect(again.tokens).toEqual(expected[1]);
    },
    120_000,
  );

  test.skipIf(cuda.available)('fails at start when the CUDA provider cannot load', async () => {
    await expect(createOnnxEngine({ modelDir: source, device: 'cuda', log })).rejects.toThrow(
      /--device cuda: onnxruntime's CUDA execution provider is not usable here/,
    );
  });
});
