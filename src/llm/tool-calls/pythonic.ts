// Pythonic tool calls: `[get_weather(city="Paris"), f(n=1, tags=["a"])]` as the whole reply (Llama 3.2
// and Llama 4's templates, vLLM's `pythonic` parser); Llama 4 may wrap it in <|python_start|>…<|python_end|>.
// Arguments are Python literals (strings, numbers, True/False/None, lists, dicts), read by a small
// recursive-descent reader: nothing is evaluated.
import type { ParsedCall, ToolCallFormat } from './types.js';

const IDENT = /[A-Za-z_][A-Za-z0-9_.]*/y;
const NUMBER = /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '0': '\0',
};

class Reader {
  at = 0;
  constructor(private readonly s: string) {}

  private ws(): void {
    while (this.at < this.s.length && /\s/.test(this.s[this.at] as string)) this.at++;
  }

  /** Consumes `c` (after whitespace) when it is next. */
  eat(c: string): boolean {
    this.ws();
    if (this.s[this.at] !== c) return false;
    this.at++;
    return true;
  }

  expect(c: string): void {
    if (!this.eat(c)) throw new SyntaxError(`expected ${c} at ${this.at}`);
  }

  ident(): string {
    this.ws();
    IDENT.lastIndex = this.at;
    const m = IDENT.exec(this.s);
    if (m === null) throw new SyntaxError(`expected a name at ${this.at}`);
    this.at += m[0].length;
    return m[0];
  }

  done(): boolean {
    this.ws();
    return this.at === this.s.length;
  }

  /** A comma-separated list up to `close`, a trailing comma allowed. */
  list(close: string, item: () => void): void {
    if (this.eat(close)) return;
    for (;;) {
      item();
      if (this.eat(close)) return;
      this.expect(',');
      if (this.eat(close)) return;
    }
  }

  value(): unknown {
    this.ws();
    const c = this.s[this.at];
    if (c === '"' || c === "'") return this.string(c);
    if (c === '[' || c === '(') {
      this.at++;
      const out: unknown[] = [];
      this.list(c === '[' ? ']' : ')', () => out.push(this.value()));
      return out;
    }
    if (c === '{') {
      this.at++;
      const out: Record<string, unknown> = {};
      this.list('}', () => {
        const key = this.value();
        if (typeof key !== 'string' && typeof key !== 'number') throw new SyntaxError('dict key');
        this.expect(':');
        out[String(key)] = this.value();
      });
      return out;
    }
    NUMBER.lastIndex = this.at;
    const num = NUMBER.exec(this.s);
    if (num !== null) {
      this.at += num[0].length;
      return Number(num[0]);
    }
    const word = this.ident();
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    throw new SyntaxError(`not a literal: ${word}`);
  }

  private string(quote: string): string {
    let out = '';
    for (this.at++; this.at < this.s.length; this.at++) {
      const c = this.s[this.at] as string;
      if (c === quote) {
        this.at++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[++this.at] ?? '';
      if (e === 'u' || e === 'x') {
        const len = e === 'u' ? 4 : 2;
        const hex = this.s.slice(this.at + 1, this.at + 1 + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new SyntaxError('bad escape');
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.at += len;
      } else out += ESCAPES[e] ?? `\\${e}`;
    }
    throw new SyntaxError('unterminated string');
  }
}

function parseCalls(region: string): ParsedCall[] | undefined {
  const r = new Reader(region);
  const calls: ParsedCall[] = [];
  try {
    r.expect('[');
    r.list(']', () => {
      const name = r.ident();
      r.expect('(');
      const args: Record<string, unknown> = {};
      r.list(')', () => {
        const key = r.ident();
        r.expect('=');
        args[key] = r.value();
      });
      calls.push({ name, arguments: JSON.stringify(args) });
    });
    if (!r.done()) return undefined;
  } catch {
    return undefined;
  }
  return calls.length > 0 ? calls : undefined;
}

export const pythonic: ToolCallFormat = {
  name: 'pythonic',
  starts: [{ marker: '<|python_start|>', end: '<|python_end|>' }],
  bareStart: '[',
  parse: parseCalls,
};
