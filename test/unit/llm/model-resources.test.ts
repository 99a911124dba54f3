import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ModelCard, ModelFile } from '../../../src/api/index.js';
import { ModelResourceCache } from '../../../src/llm/model-resources.js';
import { tokenizerFiles } from './fixtures.js';

const files = tokenizerFiles('qwen3');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const card = (name: string, configChecksum: string | null = sha(files.tokenizerConfigJson)): ModelCard => ({
  name,
  modelTypes: ['chat'],
  engine: 'mocker',
  contextLength: 100,
  kvCacheBlockSize: 16,
  totalKvBlocks: 10,
  maxNumSeqs: 1,
  maxNumBatchedTokens: 10,
  eosTokenIds: [],
  tokenizerChecksum: sha(files.tokenizerJson),
  tokenizerConfigChecksum: configChecksum,
  disaggregationMode: 'agg',
});

function fetcher(content: (file: ModelFile['file']) => string) {
  const calls: string[] = [];
  const fetch = async (file: ModelFile['file']): Promise<ModelFile> => {
    calls.push(file);
    const text = content(file);
    return { file, checksum: sha(text), content: text };
  };
  return { calls, fetch };
}
const real = (file: ModelFile['file']) =>
  file === 'tokenizer.json' ? files.tokenizerJson : files.tokenizerConfigJson;

describe('ModelResourceCache', () => {
  it('fetches the files once per checksum, for every model that shares them', async () => {
    const cache = new ModelResourceCache();
    const f = fetcher(real);
    const [a, b] = await Promise.all([cache.get(card('a'), f.fetch), cache.get(card('b'), f.fetch)]);
    expect(a).toBe(b);
    expect(f.calls.sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    expect(a.chatTemplate).not.toBeNull();
    expect(a.tokenizer.encode('Hello', false)).toEqual([9707]);
  });

  it('does not fetch tokenizer_config.json for a model without one', async () => {
    const f = fetcher(real);
    const r = await new ModelResourceCache().get(card('c', null), f.fetch);
    expect(f.calls).toEqual(['tokenizer.json']);
    expect(r.chatTemplate).toBeNull();
  });

  it("refuses a file whose checksum is not the card's, and tries again next time", async () => {
    const cache = new ModelResourceCache();
    const bad = fetcher((file) =>
      file === 'tokenizer.json' ? `${files.tokenizerJson} ` : files.tokenizerConfigJson,
    );
    await expect(cache.get(card('d'), bad.fetch)).rejects.toThrow(/does not match the model card/);
    const good = fetcher(real);
    await expect(cache.get(card('d'), good.fetch)).resolves.toBeDefined();
    expect(good.calls).toHaveLength(2);
  });
});
