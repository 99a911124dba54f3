// The files a worker serves on its model_files endpoint (tokenizer.json, tokenizer_config.json), read
// once at start with their sha256, which the model card names. Frontends fetch them once per checksum.
//
// Wire form: a file comes as one or more ModelFile frames, each with a slice of `content` and the
// checksum of the whole file; the caller concatenates the slices in order and checks the sha256. Slices
// keep every frame far below the request plane's payload limit (NATS: 1 MiB), whatever the characters.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelFile } from '../api/index.js';
import { readTokenizerConfig } from '../llm/model-dir.js';

type FileName = ModelFile['file'];

export interface ServedFile {
  readonly content: string;
  readonly checksum: string;
}

export interface ModelFiles {
  readonly dir: string;
  readonly files: ReadonlyMap<FileName, ServedFile>;
  readonly tokenizerChecksum: string;
  readonly tokenizerConfigChecksum: string | null;
}

/** Characters per frame: JSON escaping grows a character to at most 6 bytes, so a frame stays < 1 MiB. */
export const MODEL_FILE_SLICE_CHARS = 128 * 1024;

export class ModelFilesError extends Error {
  override name = 'ModelFilesError';
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function readText(path: string, optional: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelFilesError(`${path}: missing or unreadable (${(err as Error).message})`);
  }
}

/** Reads tokenizer.json (required) and tokenizer_config.json (optional, see readTokenizerConfig) from `dir`. */
export async function loadModelFiles(dir: string): Promise<ModelFiles> {
  const files = new Map<FileName, ServedFile>();
  const tokenizer = (await readText(join(dir, 'tokenizer.json'), false)) as string;
  const tokenizerFile = { content: tokenizer, checksum: sha256(tokenizer) };
  files.set('tokenizer.json', tokenizerFile);
  // With the chat template merged in from chat_template.jinja / chat_template.json, as the engine's card.
  const config = (await readTokenizerConfig(dir))?.text;
  const configFile = config === undefined ? undefined : { content: config, checksum: sha256(config) };
  if (configFile) files.set('tokenizer_config.json', configFile);
  return {
    dir,
    files,
    tokenizerChecksum: tokenizerFile.checksum,
    tokenizerConfigChecksum: configFile?.checksum ?? null,
  };
}

/** The frames of one file: slices of its content, never splitting a surrogate pair. */
export function* modelFileFrames(file: FileName, served: ServedFile): Generator<ModelFile> {
  const { content, checksum } = served;
  let at = 0;
  do {
    let end = Math.min(content.length, at + MODEL_FILE_SLICE_CHARS);
    const last = content.charCodeAt(end - 1);
    if (end < content.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield { file, checksum, content: content.slice(at, end) };
    at = end;
  } while (at < content.length);
}

const tokenizerJsonSchema = z.looseObject({
  model: z.looseObject({ vocab: z.record(z.string(), z.number().int().nonnegative()).optional() }),
  added_tokens: z
    .array(z.looseObject({ id: z.number().int().nonnegative(), content: z.string() }))
    .optional(),
});
const tokenizerConfigSchema = z.looseObject({
  eos_token: z.union([z.string(), z.looseObject({ content: z.string() }), z.null()]).optional(),
});

function parseJson<T>(file: string, text: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelFilesError(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFilesError(
      `${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * What the mocker needs from a tokenizer: how many ordinary tokens it may sample from (the BPE
 * vocabulary, without added special tokens) and the EOS token ids (tokenizer_config's eos_token).
 */
export function tokenizerFacts(files: ModelFiles): TokenizerFacts {
  // Parsing and validating tokenizer.json blocks the event loop for ~250 ms (a 150k-token vocabulary);
  // `dynamo run` starts workers in the process that serves requests (the planner scales them), where
  // that stall delayed every request in flight. The facts are a function of the two files' contents.
  const key = `${files.tokenizerChecksum}:${files.tokenizerConfigChecksum ?? ''}`;
  const cached = FACTS.get(key);
  if (cached) return { ...cached, eosTokenIds: [...cached.eosTokenIds] };
  const facts = readTokenizerFacts(files);
  FACTS.set(key, facts);
  return { ...facts, eosTokenIds: [...facts.eosTokenIds] };
}

interface TokenizerFacts {
  vocabSize: number;
  eosTokenIds: number[];
  /** One past the largest id of the vocabulary and the added tokens: the ids a prompt may hold. */
  idLimit: number;
}

const FACTS = new Map<string, TokenizerFacts>();

function readTokenizerFacts(files: ModelFiles): TokenizerFacts {
  const tokenizer = parseJson(
    'tokenizer.json',
    files.files.get('tokenizer.json')?.content ?? '',
    tokenizerJsonSchema,
  );
  const vocab = tokenizer.model.vocab ?? {};
  const vocabSize = Object.keys(vocab).length;
  if (vocabSize === 0)
    throw new ModelFilesError(`${files.dir}/tokenizer.json: model.vocab is empty or missing`);
  const configText = files.files.get('tokenizer_config.json')?.content;
  const eos =
    configText === undefined
      ? undefined
      : parseJson('tokenizer_config.json', configText, tokenizerConfigSchema).eos_token;
  const eosText = typeof eos === 'string' ? eos : (eos?.content ?? undefined);
  const eosTokenIds: number[] = [];
  if (eosText !== undefined) {
    const id = tokenizer.added_tokens?.find((t) => t.content === eosText)?.id ?? vocab[eosText];
    if (id === undefined)
      throw new ModelFilesError(`tokenizer_config.json: eos_token ${JSON.stringify(eosText)} is not a token`);
    eosTokenIds.push(id);
  }
  let maxId = -1;
  for (const id of Object.values(vocab)) if (id > maxId) maxId = id;
  for (const t of tokenizer.added_tokens ?? []) if (t.id > maxId) maxId = t.id;
  return { vocabSize, eosTokenIds, idLimit: maxId + 1 };
}
