// `dynamo profile` on the mocker: in-process through measureProfile, and as a user runs the command (a
// child process writing --out and --svg). The mocker keeps its delays (a large speedup makes them
// short), so the figures follow its timing model: TTFT rises with ISL, ITL with concurrency. Only the
// order of figures is checked, never their size.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type PlannerProfile, plannerProfileSchema, readProfile } from '../../../src/api/index.js';
import { MockerEngine } from '../../../src/engines/mocker/mocker-engine.js';
import { createLogger } from '../../../src/runtime/logger.js';
import {
  defaultDecodeContexts,
  defaultIsls,
  geometric,
  measureProfile,
  type ProfileProgress,
  profileEngine,
  profileSvg,
  progressReporter,
} from '../../../src/worker/profiler.js';
import { sourceCli } from '../../harness/dynamo-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'profiler-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

// A small engine whose figures differ clearly between grid points: 256 blocks of 16 tokens, 8
// sequences, 128 tokens per step, speedup 4.
const SMALL = {
  numGpuBlocks: 256,
  blockSize: 16,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 128,
  contextLength: 2048,
};
const SPEEDUP = 4;

function mocker(): MockerEngine {
  return new MockerEngine({
    modelName: 'small',
    ...SMALL,
    timing: {
      prefill: [4.209989e-7, 1.518344e-2, 16.50142],
      decode: [-25.74, 54.01, 5.74],
      speedupRatio: SPEEDUP,
    },
    tokenizer: { checksum: 'a'.repeat(64), configChecksum: null, vocabSize: 1000, eosTokenIds: [999] },
  });
}

function increasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));
}

describe('grid defaults', () => {
  it('ISLs double from 128 to the longest prompt that leaves a token', () => {
    expect(defaultIsls(2048)).toEqual([128, 256, 512, 1024, 2047]);
    expect(defaultIsls(100)).toEqual([99]);
  });
  it('three decode contexts up to half the context; concurrencies geometric without repeats', () => {
    expect(defaultDecodeContexts(32768)).toEqual([512, 2896, 16384]);
    expect(geometric(1, 256, 5)).toEqual([1, 4, 16, 64, 256]);
    expect(geometric(1, 3, 5)).toEqual([1, 2, 3]);
    expect(geometric(1, 1, 5)).toEqual([1]);
  });
});

describe('measureProfile (mocker)', () => {
  let profile: PlannerProfile;
  const progress: ProfileProgress[] = [];

  it('measures a grid into a valid profile', async () => {
    const engine = mocker();
    try {
      profile = await measureProfile(
        engine,
        { isls: [1024, 32, 256], decodeContexts: [256, 1024], concurrencyPoints: 3, seed: 7 },
        { vocabSize: 1000, speedupRatio: SPEEDUP, onProgress: (p) => progress.push(p) },
      );
    } finally {
      await engine.close();
    }
    expect(plannerProfileSchema.parse(profile)).toEqual(profile);
    expect(profile).toMatchObject({
      version: 1,
      engine: 'mocker',
      model: 'small',
      settings: {
        blockSize: 16,
        maxNumSeqs: 8,
        maxNumBatchedTokens: 128,
        totalKvBlocks: 256,
        contextLength: 2048,
        speedupRatio: SPEEDUP,
      },
    });
    expect(profile.prefill.map((p) => p.isl)).toEqual([32, 256, 1024]);
    // 256 tokens: 19 blocks each, max 8 sequences → 1, 3, 8; 1024: 67 blocks each, 3 fit → 1, 2, 3.
    expect(profile.decode.map((p) => [p.contextLength, p.concurrency])).toEqual([
      [256, 1],
      [256, 3],
      [256, 8],
      [1024, 1],
      [1024, 2],
      [1024, 3],
    ]);
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(progress.every((p) => p.total === 9)).toBe(true);
  });

  it('TTFT rises with ISL', () => {
    expect(increasing(profile.prefill.map((p) => p.ttftMs))).toBe(true);
  });

  it('ITL and KV usage rise with concurrency at a fixed context', () => {
    for (const ctx of [256, 1024]) {
      const points = profile.decode.filter((p) => p.contextLength === ctx);
      const first = points[0] as PlannerProfile['decode'][number];
      const last = points[points.length - 1] as PlannerProfile['decode'][number];
      expect(last.itlMs).toBeGreaterThan(first.itlMs);
      expect(last.tokensPerSecond).toBeGreaterThan(first.tokensPerSecond);
      expect(increasing(points.map((p) => p.kvUsage ?? 0))).toBe(true);
    }
  });

  it('draws the curves as an SVG', () => {
    const svg = profileSvg(profile);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('context 1024');
    // One polyline per prefill panel, one per context in each decode panel.
    expect(svg.match(/<polyline/g)).toHaveLength(2 + 2 * 2);
  });

  it('refuses a grid the engine cannot hold, naming the field', async () => {
    const engine = mocker();
    try {
      await expect(measureProfile(engine, { isls: [4096] }, { vocabSize: 1000 })).rejects.toThrow(
        /^isls: 4096 leaves no room/,
      );
      await expect(
        measureProfile(engine, { isls: [32], decodeContexts: [2040] }, { vocabSize: 1000 }),
      ).rejects.toThrow(/^decodeContexts: 2040 is outside/);
    } finally {
      await engine.close();
    }
  });
});

describe('profileEngine', () => {
  it('refuses a mocker without delays, which has no capacity to measure', async () => {
    await expect(
      profileEngine({
        worker: { engine: { kind: 'mocker', tokenizerDir: '/nonexistent', noDelay: true } },
        grid: {},
        log: createLogger({ level: 'silent' }),
      }),
    ).rejects.toThrow(/noDelay/);
  });
});

describe('progressReporter', () => {
  const point: ProfileProgress = {
    phase: 'prefill',
    done: 1,
    total: 4,
    label: 'isl 128',
    result: 'ttft 1 ms',
  };
  function sink(isTTY: boolean) {
    const chunks: string[] = [];
    const stream = { isTTY, write: (s: string) => chunks.push(s) > 0 } as unknown as NodeJS.WritableStream & {
      isTTY: boolean;
    };
    return { chunks, stream };
  }
  const CLEAR_LINE = '\x1b[K';
  it('redraws one line in place on a terminal', () => {
    const { chunks, stream } = sink(true);
    const bar = progressReporter(stream);
    bar.update(point);
    bar.update({ ...point, done: 4 });
    bar.end();
    expect(chunks[0]).toBe(
      `\r${CLEAR_LINE}[${'#'.repeat(6)}${'.'.repeat(18)}] 1/4 prefill isl 128: ttft 1 ms`,
    );
    expect(chunks[1]).toBe(`\r${CLEAR_LINE}[${'#'.repeat(24)}] 4/4 prefill isl 128: ttft 1 ms`);
    expect(chunks[2]).toBe('\n');
  });
  it('writes a line per point elsewhere', () => {
    const { chunks, stream } = sink(false);
    const bar = progressReporter(stream);
    bar.update(point);
    bar.end();
    expect(chunks).toEqual(['profile 1/4 prefill isl 128: ttft 1 ms\n']);
  });
});

describe('dynamo profile', () => {
  const ENGINE_FLAGS = [
    '--speedup-ratio',
    String(SPEEDUP),
    '--num-gpu-blocks',
    '256',
    '--block-size',
    '16',
    '--max-num-seqs',
    '8',
    '--max-num-batched-tokens',
    '128',
    '--context-length',
    '2048',
  ];

  function dynamo(args: string[]) {
    const r = spawnSync(process.execPath, sourceCli(['profile', ...args]), {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DYN_LOG: 'warn' },
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('writes --out and --svg', async () => {
    const out = join(dir, 'cli', 'profile.json');
    const svg = join(dir, 'cli', 'profile.svg');
    const r = dynamo([
      ...ENGINE_FLAGS,
      '--isl',
      '32,512',
      '--decode-context',
      '256',
      '--concurrency',
      '1,4',
      '--prefill-repeats',
      '1',
      '--out',
      out,
      '--svg',
      svg,
    ]);
    expect(r.stderr).toContain('profile 4/4 decode context 256 × 4');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${out} and ${svg}: 2 prefill and 2 decode points`);
    const profile = await readProfile(out);
    expect(profile).toMatchObject({ engine: 'mocker', model: 'mocker', settings: { blockSize: 16 } });
    expect(profile.decode.map((p) => p.concurrency)).toEqual([1, 4]);
    expect(await readFile(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  }, 120_000);

  it('refuses bad flags with exit status 2, naming the flag', () => {
    expect(dynamo(ENGINE_FLAGS)).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--out.*required/),
    });
    expect(dynamo(['--isl', '0,x', '--out', join(dir, 'x.json')])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--isl/),
    });
    expect(dynamo([...ENGINE_FLAGS, '--isl', '4096', '--out', join(dir, 'x.json')])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--isl: 4096 leaves no room/),
    });
    expect(dynamo(['--engine', 'onnx', '--out', join(dir, 'x.json')])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--model-dir/),
    });
  }, 120_000);

  it('explains itself in --help, with an example', () => {
    const r = dynamo(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: dynamo profile/);
    expect(r.stdout).toMatch(/dynamo profile --engine mocker .*--out profile\.json/);
    expect(r.stdout).toMatch(/--num-gpu-blocks/);
  });
});
