// A model directory in the layout of DESIGN §8 (what optimum and Transformers.js exports use):
//   config.json, tokenizer.json, tokenizer_config.json, generation_config.json?, model.onnx (+ model.onnx_data),
//   and the chat template where current transformers saves it: chat_template.jinja (+
//   additional_chat_templates/*.jinja), or the processors' legacy chat_template.json
// Loading it validates every file it reads; a directory that does not fit is refused with an error that
// names the file and the field.
import { createHash } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
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
  /**
   * tokenizer_config.json with the directory's chat template in it (see readTokenizerConfig); null when
   * the directory has neither.
   */
  tokenizerConfigJson: string | null;
  hasChatTemplate: boolean;
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
  const tokenizerConfig = await readTokenizerConfig(dir);
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
    tokenizerConfigJson: tokenizerConfig?.text ?? null,
    hasChatTemplate: tokenizerConfig?.hasChatTemplate ?? false,
    tokenizerConfigChecksum: tokenizerConfig === null ? null : sha256(tokenizerConfig.text),
  };
}

const templateSchema = z.union([
  z.string(),
  z.array(z.looseObject({ name: z.string(), template: z.string() })),
]);
type TemplateField = z.infer<typeof templateSchema>;

async function readText(dir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelDirError(`${join(dir, file)}: unreadable (${(err as Error).message})`);
  }
}

/** additional_chat_templates/<name>.jinja, as named templates (transformers' CHAT_TEMPLATE_DIR). */
async function additionalTemplates(dir: string): Promise<{ name: string; template: string }[]> {
  const sub = join(dir, 'additional_chat_templates');
  const names = await readdir(sub).catch(() => [] as string[]);
  const out: { name: string; template: string }[] = [];
  for (const file of names.filter((n) => n.endsWith('.jinja')).sort()) {
    out.push({ name: file.slice(0, -'.jinja'.length), template: (await readText(sub, file)) ?? '' });
  }
  return out;
}

/**
 * tokenizer_config.json as transformers loads it, with the chat template put where the frontend reads
 * it (its `chat_template` field), so workers serve and checksum one file. Precedence, as transformers
 * (tokenization_utils_base, processing_utils): chat_template.jinja and additional_chat_templates/*.jinja
 * replace a template in tokenizer_config.json; the processors' legacy chat_template.json
 * (`{"chat_template": ...}`) is used only when neither gives one. The text is returned unchanged when
 * nothing is merged into it (its checksum stays the file's). null: no tokenizer_config.json and no
 * template.
 */
export async function readTokenizerConfig(
  dir: string,
): Promise<{ text: string; hasChatTemplate: boolean } | null> {
  const configText = await readText(dir, 'tokenizer_config.json');
  const config =
    configText === undefined
      ? {}
      : (
          await readJson(
            dir,
            'tokenizer_config.json',
            z.looseObject({ chat_template: templateSchema.nullish() }),
          )
        ).value;
  const jinja = await readText(dir, 'chat_template.jinja');
  const extra = await additionalTemplates(dir);
  let template: TemplateField | undefined;
  if (jinja !== undefined || extra.length > 0) {
    // Without chat_template.jinja, tokenizer_config.json's own template stays the default one.
    const fallback = typeof config.chat_template === 'string' ? config.chat_template : undefined;
    const main = jinja ?? fallback;
    const named = main === undefined ? extra : [{ name: 'default', template: main }, ...extra];
    template = extra.length === 0 && main !== undefined ? main : named;
  } else if (config.chat_template === null || config.chat_template === undefined) {
    if (await exists(join(dir, 'chat_template.json'))) {
      const legacy = await readJson(
        dir,
        'chat_template.json',
        z.looseObject({ chat_template: templateSchema }),
      );
      template = legacy.value.chat_template;
    }
  }
  if (template === undefined) {
    if (configText === undefined) return null;
    const has = config.chat_template !== null && config.chat_template !== undefined;
    return { text: configText, hasChatTemplate: has };
  }
  return {
    text: `${JSON.stringify({ ...config, chat_template: template }, null, 2)}\n`,
    hasChatTemplate: true,
  };
}
