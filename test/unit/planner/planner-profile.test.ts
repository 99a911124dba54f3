// The profile file the planner reads: its schema, and errors that name the file and the field.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type PlannerProfile,
  ProfileError,
  parseProfile,
  plannerProfileSchema,
  readProfile,
} from '../../../src/api/index.js';

const valid: PlannerProfile = {
  version: 1,
  engine: 'mocker',
  model: 'mocker',
  createdAt: '2026-12-02T10:00:00.000Z',
  settings: {
    blockSize: 64,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    totalKvBlocks: 16384,
    contextLength: 32768,
    speedupRatio: 10,
  },
  prefill: [
    { isl: 128, ttftMs: 1.9, tokensPerSecond: 480_000 },
    { isl: 1024, ttftMs: 3.3, tokensPerSecond: 482_000 },
  ],
  decode: [
    { contextLength: 512, concurrency: 1, itlMs: 0.6, tokensPerSecond: 1700, kvUsage: 0.001 },
    { contextLength: 512, concurrency: 8, itlMs: 0.7, tokensPerSecond: 11_000 },
    { contextLength: 4096, concurrency: 1, itlMs: 0.7, tokensPerSecond: 1400 },
  ],
};

const dir = await mkdtemp(join(tmpdir(), 'planner-profile-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('plannerProfileSchema', () => {
  it('accepts a profile and ignores fields it does not know (added later)', () => {
    expect(plannerProfileSchema.parse(valid)).toEqual(valid);
    expect(plannerProfileSchema.parse({ ...valid, futureField: 1 })).toEqual(valid);
  });

  it('wants ISLs increasing and decode points sorted, each pair once', () => {
    const prefill = [valid.prefill[1], valid.prefill[0]];
    expect(() => parseProfile(JSON.stringify({ ...valid, prefill }), 'p.json')).toThrow(
      /p\.json: prefill\.1\.isl: must be greater/,
    );
    const decode = [valid.decode[0], valid.decode[0]];
    expect(() => parseProfile(JSON.stringify({ ...valid, decode }), 'p.json')).toThrow(
      /decode\.1: must come after/,
    );
  });
});

describe('readProfile', () => {
  it('reads a valid file', async () => {
    const path = await file('ok.json', JSON.stringify(valid));
    expect(await readProfile(path)).toEqual(valid);
  });

  it('names a missing file', async () => {
    const path = join(dir, 'absent.json');
    const err = await readProfile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProfileError);
    expect((err as Error).message).toContain(`profile ${path}: no such file`);
  });

  it('names a file that is not JSON', async () => {
    const path = await file('bad.json', '{"version": 1,');
    await expect(readProfile(path)).rejects.toThrow(new RegExp(`profile ${path}: not JSON`));
  });

  it('names the wrong field by its path', async () => {
    const broken = structuredClone(valid) as unknown as { decode: { itlMs: unknown }[] };
    (broken.decode[1] as { itlMs: unknown }).itlMs = 'fast';
    const path = await file('field.json', JSON.stringify(broken));
    await expect(readProfile(path)).rejects.toThrow(/field\.json: decode\.1\.itlMs: /);
    const { settings: _, ...noSettings } = valid;
    const missing = await file('missing.json', JSON.stringify(noSettings));
    await expect(readProfile(missing)).rejects.toThrow(/missing\.json: settings: /);
  });

  it('refuses another version, saying so', async () => {
    const path = await file('v2.json', JSON.stringify({ ...valid, version: 2 }));
    await expect(readProfile(path)).rejects.toThrow(/v2\.json: version: expected 1, got 2/);
    const none = await file('v0.json', JSON.stringify({ model: 'x' }));
    await expect(readProfile(none)).rejects.toThrow(/v0\.json: version: expected 1, got none/);
  });
});
