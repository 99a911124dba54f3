// logprobs in OpenAI's two shapes, from the engine's entries (one per output token, generate.ts): chat's
// choices[].logprobs.content[] and completions' parallel lists. A streamed chunk carries the entries of
// the tokens that arrived since the previous chunk. A token's text is its id decoded alone, special
// tokens included (a token holding part of a UTF-8 character shows U+FFFD, as in vLLM); `bytes` are
// that text's UTF-8.
import type { GenerateResponse, TokenLogprob } from '../api/index.js';
import type { ChatLogprobs, CompletionLogprobs } from '../api/openai.js';
import type { TextTokenizer } from '../llm/tokenizer.js';

interface Entry {
  id: number;
  lp: TokenLogprob;
}

export class LogprobsCollector {
  readonly #tokenizer: TextTokenizer;
  readonly #texts = new Map<number, string>();
  #pending: Entry[] = [];
  /** Completions' text_offset: the length of the token texts so far. */
  #offset = 0;

  constructor(tokenizer: TextTokenizer) {
    this.#tokenizer = tokenizer;
  }

  /** Keeps a frame's entries until a chunk (or the body) takes them. */
  push(frame: GenerateResponse): void {
    const entries = frame.logprobs;
    if (entries === undefined) return;
    for (let i = 0; i < frame.tokenIds.length; i++) {
      const lp = entries[i];
      if (lp !== undefined) this.#pending.push({ id: frame.tokenIds[i] as number, lp });
    }
  }

  get pending(): boolean {
    return this.#pending.length > 0;
  }

  /** The pending entries in chat's shape, then forgotten. */
  chat(): ChatLogprobs {
    const item = (id: number, logprob: number) => {
      const token = this.#text(id);
      return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
    };
    const content = this.#take().map(({ id, lp }) => ({
      ...item(id, lp.logprob),
      top_logprobs: lp.top.map(([alt, logprob]) => item(alt, logprob)),
    }));
    return { content, refusal: null };
  }

  /** The pending entries in completions' shape, then forgotten. */
  completion(): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const { id, lp } of this.#take()) {
      const token = this.#text(id);
      out.tokens.push(token);
      out.token_logprobs.push(lp.logprob);
      out.top_logprobs.push(Object.fromEntries(lp.top.map(([alt, logprob]) => [this.#text(alt), logprob])));
      out.text_offset.push(this.#offset);
      this.#offset += token.length;
    }
    return out;
  }

  #take(): Entry[] {
    const taken = this.#pending;
    this.#pending = [];
    return taken;
  }

  #text(id: number): string {
    let text = this.#texts.get(id);
    if (text === undefined) {
      text = this.#tokenizer.decode([id], false);
      this.#texts.set(id, text);
    }
    return text;
  }
}
