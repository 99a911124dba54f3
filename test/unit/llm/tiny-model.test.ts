import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModelDir } from '../../../src/llm/model-dir.js';
import { sha256Hex, TINY_MODEL_DIMS, writeTinyModel } from '../../../src/llm/tiny-model/tiny-model.js';

const dirs: string[] = [];
async function generate(seed: number, dtype: 'float32' | 'float16' = 'float32'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tiny-'));
  dirs.push(dir);
  await writeTinyModel({ outDir: dir, seed, dtype });
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('dynamo model tiny', () => {
  test('is deterministic for a seed and differs across seeds', async () => {
    const [a, b, c] = await Promise.all([generate(7), generate(7), generate(8)]);
    const hash = async (dir: string): Promise<string> => sha256Hex(await readFile(join(dir, 'model.onnx')));
    expect(await hash(a as string)).toBe(await hash(b as string));
    expect(await hash(a as string)).not.toBe(await hash(c as string));
  }, 60_000);

  test('writes the DESIGN §8 layout with a real tokenizer, chat template and Qwen3 config', async () => {
    const dir = await generate(3);
    const model = await loadModelDir(dir);
    expect(model.config.model_type).toBe('qwen3');
    expect(model.numLayers).toBe(TINY_MODEL_DIMS.numLayers);
    expect(model.numKvHeads).toBe(TINY_MODEL_DIMS.numKvHeads);
    expect(model.headDim).toBe(TINY_MODEL_DIMS.headDim);
    expect(model.eosTokenIds).toEqual([151645, 151643]);
    expect(JSON.parse(model.tokenizerConfigJson ?? '{}').chat_template).toContain('<|im_start|>');
    const tokenizer = JSON.parse(model.tokenizerJson) as { model: { vocab: Record<string, number> } };
    expect(Object.keys(tokenizer.model.vocab).length).toBeGreaterThan(150_000);

    const session = await ort.InferenceSession.create(model.modelPath);
    const kv = Array.from({ length: TINY_MODEL_DIMS.numLayers }, (_, i) => [
      `past_key_values.${i}.key`,
      `past_key_values.${i}.value`,
    ]).flat();
    expect(session.inputNames).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      ...kv,
      'num_logits_to_keep',
    ]);
    expect(session.outputNames).toEqual([
      'logits',
      ...kv.map((n) => n.replace('past_key_values', 'present')),
    ]);
    await session.release();
  }, 60_000);

  test('--dtype float16: float16 weights, KV and logits, as an fp16 export has them', async () => {
    const [full, half] = await Promise.all([generate(3), generate(3, 'float16')]);
    const model = await loadModelDir(half as string);
    expect(model.config.torch_dtype).toBe('float16');
    const size = async (dir: string) => (await readFile(join(dir, 'model.onnx'))).byteLength;
    expect(await size(half as string)).toBeLessThan((await size(full as string)) * 0.6);
    const session = await ort.InferenceSession.create(model.modelPath);
    const types = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
      Object.fromEntries(list.map((m) => [m.name, m.isTensor ? m.type : 'none']));
    expect(types(session.inputMetadata)).toMatchObject({
      input_ids: 'int64',
      'past_key_values.0.key': 'float16',
      'past_key_values.3.value': 'float16',
    });
    expect(types(session.outputMetadata)).toMatchObject({ logits: 'float16', 'present.3.value': 'float16' });
    await session.release();
  }, 60_000);
});
