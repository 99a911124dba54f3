// The tokenizer benchmark's corpus: real text read from the files at hand (licences, source code,
// multilingual messages, the parity corpus), cut into prompts; no generated word lists, which would
// favour a tokenizer's word cache.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A small deterministic PRNG (mulberry32): the same corpus on every run, and in the tokenizer tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The repository root (this file is src/bench/ or dist/bench/). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 4 || !existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path, depth + 1);
      else if (e.isFile() && keep(path)) out.push(path);
    }
  };
  walk(join(ROOT, dir), 0);
  return out;
}

/** Distinct texts of `paths`, up to about `bytes` in all. */
function texts(paths: readonly string[], bytes: number): string[] {
  const seen = new Set<string>();
  let size = 0;
  for (const p of paths) {
    if (size >= bytes) break;
    const text = readFileSync(p, 'utf8');
    if (seen.has(text)) continue;
    seen.add(text);
    size += Buffer.byteLength(text);
  }
  return [...seen];
}

export interface RealCorpus {
  /** The prompts, shuffled (the same for a given seed). */
  prompts: string[];
  /** UTF-8 bytes of each kind of text. */
  bytesByKind: Record<string, number>;
}

/**
 * Real text of four kinds, about `bytes` in all, cut into prompts of `promptBytes` and shuffled:
 * the licence texts of the npm packages installed (English legal prose), this repository's TypeScript
 * (source code), zod's error messages in 64 languages (multilingual prose, with the code around it)
 * and the tokenizer parity corpus (scripts, numbers, whitespace runs, emoji, special tokens).
 */
export function realCorpus(bytes: number, promptBytes: number, seed = 42): RealCorpus {
  const kinds: Record<string, string[]> = {
    licences: texts(
      files('node_modules', (p) => /\/(LICEN[CS]E|COPYING)[^/]*$/i.test(p)),
      0.3 * bytes,
    ),
    code: texts(
      files('src', (p) => p.endsWith('.ts')),
      0.3 * bytes,
    ),
    multilingual: texts(
      files('node_modules/zod/v4/locales', (p) => p.endsWith('.js')),
      0.3 * bytes,
    ),
    parityCorpus: texts(
      files('test/unit/wasm', (p) => p.endsWith('corpus.ts')),
      0.1 * bytes,
    ),
  };
  const prompts: string[] = [];
  const bytesByKind: Record<string, number> = {};
  for (const [kind, list] of Object.entries(kinds)) {
    const joined = list.join('\n\n');
    bytesByKind[kind] = Buffer.byteLength(joined);
    prompts.push(...cutPrompts(joined, promptBytes));
  }
  const rnd = prng(seed);
  for (let i = prompts.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [prompts[i], prompts[j]] = [prompts[j] as string, prompts[i] as string];
  }
  return { prompts, bytesByKind };
}

/** Cuts `text` into prompts of about `bytes` UTF-8 bytes each, on character boundaries. */
export function cutPrompts(text: string, bytes: number): string[] {
  const prompts: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const isHigh = c >= 0xd800 && c < 0xdc00;
    size += c < 0x80 ? 1 : c < 0x800 ? 2 : isHigh ? 4 : 3;
    if (isHigh) i++;
    if (size >= bytes) {
      prompts.push(text.slice(start, i + 1));
      start = i + 1;
      size = 0;
    }
  }
  if (start < text.length) prompts.push(text.slice(start));
  return prompts;
}
