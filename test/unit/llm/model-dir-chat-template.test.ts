// The chat template where transformers saves it (chat_template.jinja, additional_chat_templates/,
// the processors' legacy chat_template.json) reaches the model card, the file the worker serves, and
// the frontend's renderer; tokenizer_config.json's own template loses to a .jinja file, as in
// transformers' from_pretrained.
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOnnxEngine } from '../../../src/engines/onnx/index.js';
import { loadModelDir, readTokenizerConfig } from '../../../src/llm/model-dir.js';
import { ModelResourceCache } from '../../../src/llm/model-resources.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { loadModelFiles } from '../../../src/worker/model-files.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let source: string;
let scratch: string;
let qwenTemplate: string;

beforeAll(async () => {
  source = await tinyModelDir();
  scratch = await mkdtemp(join(tmpdir(), 'chat-template-'));
  const config = JSON.parse(await readFile(join(source, 'tokenizer_config.json'), 'utf8'));
  qwenTemplate = config.chat_template;
}, 120_000);
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** The tiny model, its tokenizer_config.json without a template, and `files` written beside it. */
async function exported(name: string, files: Record<string, string>, keepConfigTemplate = false) {
  const dir = join(scratch, name);
  // model.onnx (80 MB) is linked, not copied.
  await cp(source, dir, { recursive: true, filter: (src) => !src.endsWith('model.onnx') });
  await symlink(join(source, 'model.onnx'), join(dir, 'model.onnx'));
  if (!keepConfigTemplate) {
    const config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    delete config.chat_template;
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  }
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  return dir;
}

const messages = [{ role: 'user' as const, content: 'hi' }];

/** What the frontend renders for a directory, fetching files as it would from the worker. */
async function rendered(dir: string, tools?: unknown[]): Promise<string | undefined> {
  const model = await loadModelDir(dir);
  const files = await loadModelFiles(dir);
  expect(files.tokenizerConfigChecksum).toBe(model.tokenizerConfigChecksum);
  const card = {
    name: 'x',
    modelTypes: ['chat' as const],
    engine: 'onnx' as const,
    contextLength: 100,
    kvCacheBlockSize: 16,
    totalKvBlocks: 10,
    maxNumSeqs: 1,
    maxNumBatchedTokens: 10,
    eosTokenIds: [],
    tokenizerChecksum: model.tokenizerChecksum,
    tokenizerConfigChecksum: model.tokenizerConfigChecksum,
    disaggregationMode: 'agg' as const,
  };
  const resources = await new ModelResourceCache().get(card, async (file) => {
    const served = files.files.get(file);
    if (!served) throw new Error(`no ${file}`);
    return { file, checksum: served.checksum, content: served.content };
  });
  return resources.chatTemplate?.render(messages, { tools });
}

describe('chat templates as transformers saves them', () => {
  test('chat_template.jinja beside tokenizer_config.json: the engine serves chat', async () => {
    const dir = await exported('jinja', { 'chat_template.jinja': qwenTemplate });
    const model = await loadModelDir(dir);
    expect(model.hasChatTemplate).toBe(true);
    expect(await rendered(dir)).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const engine = await createOnnxEngine({ modelDir: dir, log, threads: 1 });
    try {
      expect(engine.card.modelTypes).toEqual(['chat', 'completions']);
      expect(engine.card.tokenizerConfigChecksum).toBe(model.tokenizerConfigChecksum);
    } finally {
      await engine.close();
    }
  }, 60_000);

  test('chat_template.jinja wins over tokenizer_config.json; named templates come from additional_chat_templates/', async () => {
    const dir = await exported(
      'both',
      {
        'chat_template.jinja': 'J{{ messages[0].content }}',
        'additional_chat_templates/tool_use.jinja': 'T',
      },
      true,
    );
    expect(await rendered(dir)).toBe('Jhi');
    expect(await rendered(dir, [{ type: 'function' }])).toBe('T');
    // Named templates alone keep tokenizer_config.json's template as the default one.
    const extraOnly = await exported('extra-only', { 'additional_chat_templates/tool_use.jinja': 'T' }, true);
    expect(await rendered(extraOnly)).toContain('<|im_start|>user');
    expect(await rendered(extraOnly, [{ type: 'function' }])).toBe('T');
  }, 60_000);

  test('the legacy chat_template.json is read when neither a .jinja file nor tokenizer_config.json has one', async () => {
    const legacy = JSON.stringify({ chat_template: 'L{{ messages[0].content }}' });
    expect(await rendered(await exported('legacy', { 'chat_template.json': legacy }))).toBe('Lhi');
    const withConfig = await exported('legacy-config', { 'chat_template.json': legacy }, true);
    expect(await rendered(withConfig)).toContain('<|im_start|>user');
  }, 60_000);

  test('a tokenizer_config.json alone is served byte for byte; no template means completions only', async () => {
    const plain = await readTokenizerConfig(source);
    const text = await readFile(join(source, 'tokenizer_config.json'), 'utf8');
    expect(plain).toEqual({ text, hasChatTemplate: true });
    const none = await exported('none', {});
    expect((await loadModelDir(none)).hasChatTemplate).toBe(false);
    expect(await rendered(none)).toBeUndefined();
    const bare = await exported('bare', { 'chat_template.jinja': 'B' });
    await rm(join(bare, 'tokenizer_config.json'));
    const only = await readTokenizerConfig(bare);
    expect(only?.hasChatTemplate).toBe(true);
    expect(sha(only?.text ?? '')).toBe((await loadModelFiles(bare)).tokenizerConfigChecksum);
  }, 60_000);

  test('a malformed chat_template.json is refused naming the file and field', async () => {
    const dir = await exported('bad', { 'chat_template.json': JSON.stringify({ chat_template: 3 }) });
    await expect(loadModelDir(dir)).rejects.toThrow(/chat_template\.json: chat_template:/);
  }, 60_000);
});
