// The mocker honours the stop fields clients send (issue 21 item 5): stop_token_ids end a sequence,
// ignore_eos runs it to max_tokens, min_tokens keeps EOS and stop ids from ending it early, and a
// logit_bias of -100 keeps a token out and logprobs have their shape (item 4).
import { describe, expect, it } from 'vitest';
import type { GenerateRequest, GenerateResponse } from '../../../../src/api/index.js';
import { MockerEngine } from '../../../../src/engines/mocker/mocker-engine.js';

const PROMPT = [5, 6, 7, 8, 9];

function mocker(eosTokenIds: number[]) {
  return new MockerEngine({
    modelName: 'mock',
    blockSize: 4,
    numGpuBlocks: 64,
    noDelay: true,
    tokenizer: { checksum: 'a'.repeat(64), configChecksum: null, vocabSize: 1000, eosTokenIds },
  });
}

async function run(
  engine: MockerEngine,
  stop: GenerateRequest['stop'],
  logitBias?: GenerateRequest['sampling']['logitBias'],
) {
  const frames: GenerateResponse[] = [];
  const sampling = { seed: 7, ...(logitBias === undefined ? {} : { logitBias }) };
  const request = { requestId: 'r', model: 'mock', tokenIds: PROMPT, sampling, stop };
  for await (const f of engine.generate(request, new AbortController().signal)) frames.push(f);
  return { tokens: frames.flatMap((f) => f.tokenIds), finish: frames.at(-1)?.finishReason };
}

describe('mocker stop fields', async () => {
  const free = await run(mocker([]), { maxTokens: 10 });
  // The first token from the third on that did not come before: the stop id of these tests.
  const at = free.tokens.findIndex((t, i) => i >= 2 && free.tokens.indexOf(t) === i);
  const id = free.tokens[at] as number;

  it('stops at a stop token id', async () => {
    const r = await run(mocker([]), { maxTokens: 10, stopTokenIds: [id] });
    expect(r).toEqual({ tokens: free.tokens.slice(0, at + 1), finish: 'stop' });
  });

  it('stops at EOS, and runs to max_tokens with ignore_eos', async () => {
    const engine = mocker([id]);
    expect(await run(engine, { maxTokens: 10 })).toEqual({
      tokens: free.tokens.slice(0, at + 1),
      finish: 'stop',
    });
    expect(await run(engine, { maxTokens: 10, ignoreEos: true })).toEqual({
      tokens: free.tokens,
      finish: 'length',
    });
  });

  it('does not sample EOS or a stop id before min_tokens', async () => {
    const r = await run(mocker([id]), { maxTokens: 10, stopTokenIds: [id], minTokens: at + 1 });
    expect(r.tokens.slice(0, at)).toEqual(free.tokens.slice(0, at));
    expect(r.tokens[at]).not.toBe(id);
    expect(r.tokens.slice(0, at + 1)).not.toContain(id);
    expect(r.tokens.length).toBeGreaterThan(at + 1);
  });

  it('never samples a token whose logit_bias is -100, and ignores other biases', async () => {
    const banned = free.tokens.slice(0, 3);
    const r = await run(mocker([]), { maxTokens: 10 }, [
      ...banned.map((t): [number, number] => [t, -100]),
      [free.tokens[5] as number, -99],
    ]);
    expect(r.tokens).toHaveLength(10);
    for (const t of banned) expect(r.tokens).not.toContain(t);
    // Where the free run drew an allowed token, so does this one (the -99 bias changes nothing).
    const kept = free.tokens.map((t, i) => (banned.includes(t) ? r.tokens[i] : t));
    expect(r.tokens).toEqual(kept);
  });

  it('reports logprobs when asked: the draw certain, its alternatives at the floor', async () => {
    const frames: GenerateResponse[] = [];
    const sampling = { seed: 7, logprobs: 2 };
    const request = { requestId: 'r', model: 'mock', tokenIds: PROMPT, sampling, stop: { maxTokens: 5 } };
    for await (const f of mocker([]).generate(request, new AbortController().signal)) frames.push(f);
    const tokens = frames.flatMap((f) => f.tokenIds);
    expect(tokens).toEqual(free.tokens.slice(0, 5));
    expect(frames.flatMap((f) => f.logprobs ?? [])).toEqual(
      tokens.map((t) => ({
        logprob: 0,
        top: [
          [t, 0],
          [(t + 1) % 1000, -9999],
        ],
      })),
    );
  });
});
