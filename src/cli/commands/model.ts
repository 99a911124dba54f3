import { resolve } from 'node:path';
import { z } from 'zod';
import { TINY_MODEL_VERSION, writeTinyModel } from '../../llm/tiny-model/tiny-model.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';

// Progress goes to stderr only once the work has taken longer than this: a quick run stays silent.
const PROGRESS_AFTER_MS = 500;

export const command = defineCommand({
  name: 'model',
  summary: 'model utilities: `dynamo model tiny` writes a random-weight test model directory',
  usage: 'tiny --out <dir> [--seed <n>] [--dtype float32|float16]',
  details:
    'Writes a Qwen3-style decoder (4 layers, hidden 64, GQA 4/2 heads, head size 16) with random weights\n' +
    'as model.onnx, with config.json, Qwen3 tokenizer.json / tokenizer_config.json (chat template) and\n' +
    `generation_config.json (DESIGN §8). The same seed always gives the same files (format v${TINY_MODEL_VERSION}).\n` +
    'With --dtype float16 the weights, KV inputs/outputs and logits are float16, as in an fp16 optimum export.\n' +
    'Example:\n  dynamo model tiny --out ./tiny --seed 1',
  allowPositionals: true,
  options: {
    out: {
      flag: 'out',
      schema: z.string().min(1, 'required: the directory to write'),
      description: 'directory to write the model into (created if missing)',
      placeholder: '<dir>',
    },
    seed: {
      flag: 'seed',
      schema: z.coerce.number().int().min(0).max(0xffffffff).default(1),
      description: 'seed of the random weights',
      placeholder: '<n>',
    },
    dtype: {
      flag: 'dtype',
      schema: z.enum(['float32', 'float16']).default('float32'),
      description: 'element type of the weights, KV cache tensors and logits',
      placeholder: 'float32|float16',
    },
  },
  async run(values, { positionals, log }) {
    if (positionals.length !== 1 || positionals[0] !== 'tiny') {
      throw new UsageError(`expected the subcommand "tiny", got ${JSON.stringify(positionals.join(' '))}`);
    }
    const outDir = resolve(values.out);
    const started = Date.now();
    await writeTinyModel({
      outDir,
      seed: values.seed,
      dtype: values.dtype,
      onProgress: (stage, done, total) => {
        if (Date.now() - started > PROGRESS_AFTER_MS) process.stderr.write(`\r${stage} ${done}/${total}  `);
      },
    });
    if (Date.now() - started > PROGRESS_AFTER_MS) process.stderr.write('\n');
    log.info(
      { outDir, seed: values.seed, dtype: values.dtype, ms: Date.now() - started },
      'tiny model written',
    );
    return 0;
  },
});
