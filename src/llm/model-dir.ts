// A model directory in the layout of DESIGN §8 (what optimum and Transformers.js exports use):
//   config.json, tokenizer.json, tokenizer_config.json, generation_config.json?, model.onnx (+ model.onnx_data)
// Loading it validates every file it reads; a directory that does not fit is refused with an error that
// names the file and the field.
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]);

/** The fields of config.json the engine uses; the rest of the file is kept as it is. */
export const modelConfigSchema = z.looseObject({
  model_type: z.string().min(1),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().optional(),
  hidden_size: z.number().int().positive(),
  head_dim: z.number().int().positive().optional(),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive().optional(),
  eos_token_id: tokenIds.nullable().optional(),
});
export type ModelConfig = z.infer<typeof modelConfigSchema>;

const generationConfigSchema = z.looseObject({ eos_token_id: tokenIds.nullable().optional() });

export interface ModelDir {
  dir: string;
  /** Directory name: the default served model name. */
  name: string;
  config: ModelConfig;
  /** The dimensions the engine checks the graph against. */
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  contextLength: number;
  /** From generation_config.json, else config.json. */
  eosTokenIds: number[];
  modelPath: string;
  tokenizerJson: string;
  tokenizerChecksum: string;
  /** null when the directory has no tokenizer_config.json. */
  tokenizerConfigJson: string | null;
  tokenizerConfigChecksum: string | null;
}

export class ModelDirError extends Error {
  override name = 'ModelDirError';
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(
  dir: string,
  file: string,
  schema: z.ZodType<T>,
): Promise<{ text: string; value: T }> {
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (err) {
    throw new ModelDirError(`${join(dir, file)}: missing or unreadable (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelDirError(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelDirError(`${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return { text, value: parsed.data };
}

const asList = (ids: number | number[] | null | undefined): number[] =>
  ids === null || ids === undefined ? [] : Array.isArray(ids) ? ids : [ids];

/** Reads and validates a model directory (not the graph itself: the engine checks that against it). */
export async function loadModelDir(dir: string, name?: string): Promise<ModelDir> {
  const { value: config } = await readJson(dir, 'config.json', modelConfigSchema);
  const { text: tokenizerJson } = await readJson(
    dir,
    'tokenizer.json',
    z.looseObject({ model: z.looseObject({}) }),
  );
  const hasTokenizerConfig = await exists(join(dir, 'tokenizer_config.json'));
  const tokenizerConfigJson = hasTokenizerConfig
    ? (await readJson(dir, 'tokenizer_config.json', z.looseObject({ chat_template: z.unknown().optional() })))
        .text
    : null;
  const generation = (await exists(join(dir, 'generation_config.json')))
    ? (await readJson(dir, 'generation_config.json', generationConfigSchema)).value
    : undefined;
  const modelPath = join(dir, 'model.onnx');
  if (!(await exists(modelPath))) throw new ModelDirError(`${modelPath}: missing (the decoder graph)`);

  const numHeads = config.num_attention_heads;
  const headDim = config.head_dim ?? config.hidden_size / numHeads;
  if (!Number.isInteger(headDim)) {
    throw new ModelDirError(
      `config.json: hidden_size ${config.hidden_size} is not a multiple of num_attention_heads`,
    );
  }
  const numKvHeads = config.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new ModelDirError(
      `config.json: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const eosTokenIds = [...new Set([...asList(generation?.eos_token_id), ...asList(config.eos_token_id)])];
  return {
    dir,
    name: name ?? (dir.split('/').filter(Boolean).pop() || 'model'),
    config,
    numLayers: config.num_hidden_layers,
    numKvHeads,
    headDim,
    contextLength: config.max_position_embeddings ?? 2048,
    eosTokenIds,
    modelPath,
    tokenizerJson,
    tokenizerChecksum: sha256(tokenizerJson),
    tokenizerConfigJson,
    tokenizerConfigChecksum: tokenizerConfigJson === null ? null : sha256(tokenizerConfigJson),
  };
}
