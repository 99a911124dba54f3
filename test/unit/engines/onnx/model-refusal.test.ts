// A directory that does not fit the layout is refused with an error naming what is missing or
// unexpected. (--device cuda: onnx-cuda.test.ts.)
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOnnxEngine } from '../../../../src/engines/onnx/index.js';
import { DataType, type DataTypeCode, encodeModel } from '../../../../src/llm/tiny-model/onnx-proto.js';
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

/**
 * A one-layer graph with the tiny model's names whose KV tensors are `kvType` (passed through by
 * Identity nodes), with or without a logits output: enough for onnxruntime to load, and for the engine
 * to judge.
 */
async function oneLayerGraph(dir: string, kvType: DataTypeCode, withLogits: boolean): Promise<void> {
  await editConfig(dir, (c) => (c.num_hidden_layers = 1));
  const kv = (name: string, seq: string) => ({ name, elemType: kvType, shape: ['b', 2, seq, 16] });
  const model = encodeModel({
    graphName: 'odd',
    producer: 'test',
    opsetVersion: 17,
    metadata: {},
    initializers: [],
    nodes: [
      ...['key', 'value'].map((k) => ({
        name: `id_${k}`,
        opType: 'Identity',
        input: [`past_key_values.0.${k}`],
        output: [`present.0.${k}`],
        attribute: [],
      })),
      {
        name: 'cast',
        opType: 'Cast',
        input: ['input_ids'],
        output: ['logits'],
        attribute: [{ name: 'to', type: 2, i: 1 }],
      },
    ],
    inputs: [
      { name: 'input_ids', elemType: DataType.INT64, shape: ['b', 's'] },
      { name: 'attention_mask', elemType: DataType.INT64, shape: ['b', 't'] },
      kv('past_key_values.0.key', 'p'),
      kv('past_key_values.0.value', 'p'),
    ],
    outputs: [
      ...(withLogits ? [{ name: 'logits', elemType: DataType.FLOAT, shape: ['b', 's'] }] : []),
      kv('present.0.key', 'p'),
      kv('present.0.value', 'p'),
    ],
  });
  await writeFile(join(dir, 'model.onnx'), model);
}

describe('model directory refusal', () => {
  test('a KV dtype the engine does not handle, and a missing logits output, are named', async () => {
    const double = await variant('double-kv', (d) => oneLayerGraph(d, 11 as DataTypeCode, true));
    await expect(createOnnxEngine({ modelDir: double, log })).rejects.toThrow(
      /model\.onnx: past_key_values\.0\.key is float64; KV must be float32 or float16/,
    );
    const noLogits = await variant('no-logits', (d) => oneLayerGraph(d, DataType.FLOAT, false));
    await expect(createOnnxEngine({ modelDir: noLogits, log })).rejects.toThrow(
      /model\.onnx: the graph has no output "logits"/,
    );
  }, 60_000);

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
});
