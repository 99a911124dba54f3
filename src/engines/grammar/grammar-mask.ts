// Structured output in an engine: a grammar (a JSON schema, or any JSON object) compiled by XGrammar
// against the model's vocabulary, and per request a matcher whose bitmask sets the logits of tokens
// that cannot continue valid output to −∞ before sampling (the sampler's WebAssembly kernels apply it,
// fused with the argmax when greedy); each sampled token advances it. When the
// grammar is complete only the stop tokens (EOS) are allowed, so the sequence ends there.
// Compiling is synchronous WASM work (a few hundred ms for a 152k vocabulary): grammars are compiled
// once per spec and kept (a small LRU).
import type {
  CompiledGrammar as Compiled,
  GrammarCompiler as Compiler,
  GrammarMatcher as Matcher,
} from '@mlc-ai/web-xgrammar';
import type { GrammarSpec } from '../../api/index.js';
import { xgrammar } from '../../llm/xgrammar.js';

/** Compiled grammars kept per engine. */
const CACHE_SIZE = 32;

/**
 * The vocabulary as XGrammar wants it: each id's token as written in tokenizer.json (byte-level
 * tokens in their Ġ… form), and how tokens encode bytes, from the decoder.
 */
export function encodedVocab(tokenizerJson: string): { vocab: string[]; vocabType: string } {
  const json = JSON.parse(tokenizerJson) as {
    model: { vocab?: Record<string, number> | [string, number][] };
    added_tokens?: { id: number; content: string }[];
    decoder?: { type?: string; decoders?: { type?: string }[] } | null;
  };
  const vocab: string[] = [];
  const entries = Array.isArray(json.model.vocab)
    ? json.model.vocab.map(([token], id): [string, number] => [token, id])
    : Object.entries(json.model.vocab ?? {});
  for (const [token, id] of entries) vocab[id] = token;
  for (const t of json.added_tokens ?? []) vocab[t.id] = t.content;
  for (let i = 0; i < vocab.length; i++) vocab[i] ??= '';
  const decoders = [json.decoder?.type, ...(json.decoder?.decoders ?? []).map((d) => d.type)];
  const vocabType = decoders.includes('ByteLevel')
    ? 'BYTE_LEVEL'
    : decoders.includes('ByteFallback')
      ? 'BYTE_FALLBACK'
      : 'RAW';
  return { vocab, vocabType };
}

export class GrammarCompiler {
  readonly #tokenizerJson: string;
  readonly #vocabSize: number;
  readonly #stopIds: number[];
  #compiler: Promise<Compiler> | undefined;
  readonly #compiled = new Map<string, Promise<Compiled>>();

  /** `vocabSize`: the logits row's length (the model's, which may pad the tokenizer's). */
  constructor(tokenizerJson: string, vocabSize: number, stopIds: readonly number[]) {
    this.#tokenizerJson = tokenizerJson;
    this.#vocabSize = vocabSize;
    this.#stopIds = [...stopIds];
  }

  /** A matcher for one request, at the start of its output. */
  async matcher(spec: GrammarSpec): Promise<GrammarMask> {
    const compiled = await this.#compile(spec);
    const x = await xgrammar();
    const matcher = await x.GrammarMatcher.createGrammarMatcher(compiled, this.#stopIds);
    const mask = new GrammarMask(matcher, this.#vocabSize, this.#stopIds);
    await mask.ready();
    return mask;
  }

  #compile(spec: GrammarSpec): Promise<Compiled> {
    const key = JSON.stringify(spec);
    let compiled = this.#compiled.get(key);
    if (compiled !== undefined) {
      this.#compiled.delete(key); // refreshed as the most recent
    } else {
      // json_object is OpenAI's "a JSON object" (XGrammar's builtin JSON grammar takes any value).
      // No free whitespace (XGrammar's fixed layout: newlines, 2-space indents, ", " and ": "), so a
      // model cannot stall in endless blanks.
      const schema = spec.type === 'json_object' ? { type: 'object' } : spec.schema;
      compiled = this.#compilerOnce().then((c) =>
        c.compileJSONSchema(JSON.stringify(schema), false, undefined, undefined, true),
      );
      compiled.catch(() => this.#compiled.delete(key));
    }
    this.#compiled.set(key, compiled);
    if (this.#compiled.size > CACHE_SIZE) {
      const oldest = this.#compiled.keys().next().value as string;
      void this.#compiled.get(oldest)?.then(
        (c) => c.dispose(),
        () => undefined,
      );
      this.#compiled.delete(oldest);
    }
    return compiled;
  }

  #compilerOnce(): Promise<Compiler> {
    this.#compiler ??= (async () => {
      const x = await xgrammar();
      const { vocab, vocabType } = encodedVocab(this.#tokenizerJson);
      const info = await x.TokenizerInfo.createTokenizerInfo(
        vocab,
        vocabType,
        false,
        this.#vocabSize,
        this.#stopIds,
      );
      return x.GrammarCompiler.createGrammarCompiler(info, true);
    })();
    return this.#compiler;
  }
}

/** One request's grammar state: the mask for its next token, advanced by each token it samples. */
export class GrammarMask {
  readonly #matcher: Matcher;
  readonly #vocabSize: number;
  /** After the grammar accepted a stop token (ignore_eos keeps a sequence going): stop tokens only. */
  readonly #stopOnly: Int32Array;
  #mask: Int32Array | undefined;
  #pending: Promise<void> | undefined;
  #disposed = false;

  constructor(matcher: Matcher, vocabSize: number, stopIds: readonly number[]) {
    this.#matcher = matcher;
    this.#vocabSize = vocabSize;
    this.#stopOnly = new Int32Array(Math.ceil(vocabSize / 32));
    for (const id of stopIds)
      if (id < vocabSize) this.#stopOnly[id >>> 5] = (this.#stopOnly[id >>> 5] as number) | (1 << (id & 31));
    this.#fetch();
  }

  /** Settles when the next mask is known (the matcher's API is asynchronous); undefined when it is. */
  ready(): Promise<void> | undefined {
    return this.#pending;
  }

  /**
   * The bitmask of the tokens the grammar allows next (bit id % 32 of word id / 32; ids past it are
   * refused): the sampler's kernels apply it to the logits in WebAssembly (LogitsArena). Valid until
   * the next `accept`.
   */
  bitmask(): Int32Array {
    const mask = this.#mask;
    if (mask === undefined) throw new Error('the grammar mask is not ready');
    return mask;
  }

  /** The first token at or after `start` (wrapping) that the grammar allows next; `start` if none is. */
  allowedFrom(start: number): number {
    const mask = this.#mask;
    if (mask === undefined) throw new Error('the grammar mask is not ready');
    return firstAllowed(mask, start, this.#vocabSize) ?? firstAllowed(mask, 0, start) ?? start;
  }

  /**
   * Advances the grammar by a sampled token, and starts computing the next mask. false: the grammar
   * refused it (only when nothing was allowed, e.g. min_tokens banning the stop token the complete
   * grammar waits for); the state stays where it was.
   */
  accept(token: number): boolean {
    if (this.#disposed || this.#mask === this.#stopOnly) return false; // disposed, or terminated
    if (!this.#matcher.acceptToken(token)) return false;
    this.#fetch();
    return true;
  }

  /** The grammar accepted a stop token: nothing may follow. */
  get terminated(): boolean {
    return !this.#disposed && this.#matcher.isTerminated();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const pending = this.#pending ?? Promise.resolve();
    void pending.finally(() => this.#matcher.dispose());
  }

  #fetch(): void {
    this.#mask = undefined;
    if (this.#matcher.isTerminated()) {
      this.#pending = undefined;
      this.#mask = this.#stopOnly;
      return;
    }
    const pending = this.#matcher.getNextTokenBitmask().then((mask: Int32Array) => {
      if (this.#pending === pending) this.#pending = undefined;
      this.#mask = mask;
    });
    this.#pending = pending;
  }
}

/** The first id in [from, to) whose bit is set, skipping all-refused 32-bit words. */
function firstAllowed(mask: Int32Array, from: number, to: number): number | undefined {
  for (let id = from; id < to; ) {
    const bits = mask[id >>> 5] as number;
    if (bits === 0) {
      id = (id | 31) + 1;
      continue;
    }
    if ((bits >>> (id & 31)) & 1) return id;
    id++;
  }
  return undefined;
}
