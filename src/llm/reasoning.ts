// Reasoning parsing: the `<think>…</think>` block of reasoning models (DeepSeek R1, Qwen3, QwQ) goes to
// `reasoning_content`, the rest stays `content`. Streamed: any split of the text into deltas gives the
// same result, and a delta is looked at once (a tag prefix at its end is held back until the next one).
//
// Formats (Dynamo's / vLLM's names):
//   qwen3        reasoning only inside an explicit block: the output opens it (after optional whitespace)
//                or the prompt does (a template that ends the generation prompt with `<think>`);
//                `enable_thinking: false` templates close an empty block in the prompt: all content.
//   deepseek_r1  R1 always reasons first: the output is reasoning until `</think>`, whether or not
//                `<think>` was written (older R1 templates leave it out).
// A stream that ends inside the block (max_tokens while thinking) is all reasoning.
// Detection: a chat template that mentions `<think>` or `</think>` reasons; DeepSeek's (`<｜Assistant｜>`)
// is deepseek_r1, any other qwen3.

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningFormat {
  readonly name: string;
  /** Reasoning from the first token even without `<think>`. */
  readonly startsInside: boolean;
}

export const REASONING_FORMATS: ReadonlyMap<string, ReasoningFormat> = new Map(
  [
    { name: 'qwen3', startsInside: false },
    { name: 'deepseek_r1', startsInside: true },
  ].map((f) => [f.name, f] as const),
);

export const REASONING_PARSER_NAMES = [...REASONING_FORMATS.keys()];

export function detectReasoningFormat(template: string): ReasoningFormat | undefined {
  if (!template.includes(OPEN) && !template.includes(CLOSE)) return undefined;
  return REASONING_FORMATS.get(template.includes('<｜Assistant｜>') ? 'deepseek_r1' : 'qwen3');
}

/** Whether a rendered prompt's tail leaves a `<think>` block open for the output. */
export function promptOpensReasoning(promptTail: string): boolean {
  return promptTail.trimEnd().endsWith(OPEN);
}

type State = 'start' | 'reasoning' | 'after' | 'content';

export class ReasoningParser {
  /** The reasoning released by the last push or finish. */
  reasoning = '';
  private state: State;
  private held = '';

  constructor(
    private readonly format: ReasoningFormat,
    /** The prompt opened the block (see promptOpensReasoning). */
    openInPrompt = false,
  ) {
    this.state = openInPrompt ? 'reasoning' : 'start';
  }

  /** Appends generated text; returns the content it releases (reasoning in `this.reasoning`). */
  push(text: string): string {
    this.reasoning = '';
    if (this.state === 'content') return text;
    let s = this.held === '' ? text : this.held + text;
    this.held = '';
    let content = '';
    while (s !== '') {
      if (this.state === 'start') {
        const lead = s.length - s.trimStart().length;
        const rest = s.slice(lead);
        if (rest.startsWith(OPEN)) {
          this.state = 'reasoning';
          s = rest.slice(OPEN.length);
        } else if (OPEN.startsWith(rest)) {
          this.held = s; // whitespace, or the beginning of `<think>`: wait for more
          return content;
        } else this.state = this.format.startsInside ? 'reasoning' : 'content';
      } else if (this.state === 'reasoning') {
        const close = s.indexOf(CLOSE);
        if (close >= 0) {
          this.reasoning += s.slice(0, close);
          this.state = 'after';
          s = s.slice(close + CLOSE.length);
          continue;
        }
        const hold = partialTail(s, CLOSE);
        this.reasoning += s.slice(0, s.length - hold);
        this.held = s.slice(s.length - hold);
        return content;
      } else if (this.state === 'after') {
        // The blank lines templates put between the block and the answer are not content.
        const trimmed = s.trimStart();
        if (trimmed === '') return content;
        this.state = 'content';
        s = trimmed;
      } else {
        content += s;
        s = '';
      }
    }
    return content;
  }

  /** The end of the stream: held text goes where the state says. */
  finish(): string {
    const held = this.held;
    this.held = '';
    this.reasoning = '';
    if (this.state === 'reasoning' || (this.state === 'start' && this.format.startsInside)) {
      this.reasoning = held;
      return '';
    }
    return this.state === 'after' ? '' : held;
  }
}

/** The longest tail of s that is a proper prefix of `tag`. */
function partialTail(s: string, tag: string): number {
  next: for (let k = Math.min(s.length, tag.length - 1); k > 0; k--) {
    const at = s.length - k;
    for (let t = 0; t < k; t++) if (s.charCodeAt(at + t) !== tag.charCodeAt(t)) continue next;
    return k;
  }
  return 0;
}
