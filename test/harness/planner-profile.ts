// Planner profiles for tests: the fields every profile has, and the points (and settings) a test
// chooses, so each test states only the capacity figures its scenario depends on.
import type { PlannerProfile } from '../../src/api/index.js';

const BASE_SETTINGS: PlannerProfile['settings'] = {
  blockSize: 64,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  totalKvBlocks: 16384,
  contextLength: 32768,
};

export function testProfile(
  points: Pick<PlannerProfile, 'prefill' | 'decode'>,
  settings: Partial<PlannerProfile['settings']> = {},
): PlannerProfile {
  return {
    version: 1,
    engine: 'mocker',
    model: 'mocker',
    createdAt: '2026-12-02T10:00:00.000Z',
    settings: { ...BASE_SETTINGS, ...settings },
    ...points,
  };
}
