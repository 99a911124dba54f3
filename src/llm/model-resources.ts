// What the frontend needs to serve one model, besides its card: the tokenizer and the chat template.
// They are fetched once from a worker's model_files endpoint and cached by checksum, so every worker of a
// model (and every model sharing a tokenizer) costs one fetch, and a changed file is a new entry.
import { createHash } from 'node:crypto';
import type { ModelCard, ModelFile } from '../api/model-card.js';
import { ChatTemplate } from './chat-template.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';

export interface ModelResources {
  tokenizer: TextTokenizer;
  /** null when the model has no chat template (completions only). */
  chatTemplate: ChatTemplate | null;
}

export type FetchModelFile = (file: ModelFile['file']) => Promise<ModelFile>;

export class ModelResourceCache {
  private readonly entries = new Map<string, Promise<ModelResources>>();

  /** The resources for a card; `fetchFile` asks one of the model's workers. */
  get(card: ModelCard, fetchFile: FetchModelFile): Promise<ModelResources> {
    const key = `${card.tokenizerChecksum}:${card.tokenizerConfigChecksum ?? ''}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = load(card, fetchFile);
      this.entries.set(key, entry);
      // A failed fetch is retried by the next request rather than cached.
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
  }
}

async function fetchChecked(
  fetchFile: FetchModelFile,
  file: ModelFile['file'],
  checksum: string,
): Promise<string> {
  const got = await fetchFile(file);
  const actual = createHash('sha256').update(got.content).digest('hex');
  if (actual !== checksum) {
    throw new Error(`${file}: checksum ${actual} does not match the model card's ${checksum}`);
  }
  return got.content;
}

async function load(card: ModelCard, fetchFile: FetchModelFile): Promise<ModelResources> {
  const [tokenizerJson, configJson] = await Promise.all([
    fetchChecked(fetchFile, 'tokenizer.json', card.tokenizerChecksum),
    card.tokenizerConfigChecksum === null
      ? null
      : fetchChecked(fetchFile, 'tokenizer_config.json', card.tokenizerConfigChecksum),
  ]);
  return {
    tokenizer: loadTokenizer(tokenizerJson, configJson),
    chatTemplate: configJson === null ? null : ChatTemplate.fromTokenizerConfig(configJson),
  };
}
