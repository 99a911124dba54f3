// The SLA planner's options, declared once for `dynamo planner` and `dynamo run --planner`, plus the
// frontend's scale-to-zero waiting room.
import { z } from 'zod';
import { type PlannerProfile, readProfile } from '../api/index.js';
import { DEFAULT_WORKER_WAIT, type WorkerWaitOptions } from '../frontend/index.js';
import type { PlannerConfig } from '../planner/planner.js';
import { DEFAULT_AVERAGE_WINDOW, PREDICTOR_KINDS } from '../planner/predictors.js';
import { RAMP_WINDOW, SCALE_DOWN_HOLD, TTFT_MISS_SHARE } from '../planner/throughput.js';
import { type OptionValues, UsageError } from './options.js';

const positive = z.coerce.number().positive();
const count = (def: number) => z.coerce.number().int().min(0).default(def);

/** What the planner decides with, whatever it scales (Kubernetes or local workers). */
export const PLANNER_OPTIONS = {
  profile: {
    flag: 'profile',
    env: 'DYN_PLANNER_PROFILE',
    schema: z.string().min(1).optional(),
    description: 'engine capacity profile written by `dynamo profile`',
    placeholder: '<file>',
  },
  adjustmentInterval: {
    flag: 'adjustment-interval',
    env: 'DYN_PLANNER_ADJUSTMENT_INTERVAL',
    schema: positive.default(180),
    description: 'seconds between throughput decisions (also the Prometheus window)',
    placeholder: '<s>',
  },
  loadInterval: {
    flag: 'load-interval',
    env: 'DYN_PLANNER_LOAD_INTERVAL',
    schema: z.coerce.number().min(0).default(5),
    description: 'seconds between load-loop decisions (0: no load loop)',
    placeholder: '<s>',
  },
  ttft: {
    flag: 'ttft',
    env: 'DYN_PLANNER_TTFT',
    schema: positive.default(500),
    description: 'TTFT target, ms',
    placeholder: '<ms>',
  },
  itl: {
    flag: 'itl',
    env: 'DYN_PLANNER_ITL',
    schema: positive.default(50),
    description: 'ITL target, ms',
    placeholder: '<ms>',
  },
  loadPredictor: {
    flag: 'load-predictor',
    env: 'DYN_PLANNER_LOAD_PREDICTOR',
    schema: z.enum(PREDICTOR_KINDS).default('constant'),
    description: `next-interval predictor: ${PREDICTOR_KINDS.join(', ')}`,
    placeholder: '<kind>',
  },
  loadPredictorWindow: {
    flag: 'load-predictor-window',
    env: 'DYN_PLANNER_LOAD_PREDICTOR_WINDOW',
    schema: z.coerce.number().int().min(1).max(1024).default(DEFAULT_AVERAGE_WINDOW),
    description: 'moving-average predictor: observations averaged',
    placeholder: '<n>',
  },
  loadPredictorSeason: {
    flag: 'load-predictor-season',
    schema: z.coerce.number().int().min(2).optional(),
    description: 'seasonal predictor: intervals per season (e.g. 480 for a day at 180 s)',
    placeholder: '<n>',
  },
  scaleDownRatio: {
    flag: 'load-scale-down-ratio',
    schema: z.coerce.number().gt(0).lt(1).default(0.5),
    description: 'load loop: remove a replica when every engine is below this share of the targets',
    placeholder: '<r>',
  },
  ttftMissShare: {
    flag: 'ttft-miss-share',
    env: 'DYN_PLANNER_TTFT_MISS_SHARE',
    schema: z.coerce.number().gt(0).lt(1).default(TTFT_MISS_SHARE),
    description: 'queueing headroom: share of prompts allowed to wait past the TTFT target (M/D/c)',
    placeholder: '<share>',
  },
  trendWindow: {
    flag: 'trend-window',
    env: 'DYN_PLANNER_TREND_WINDOW',
    schema: z.coerce.number().int().min(0).max(64).default(RAMP_WINDOW),
    description:
      "throughput loop: size for the trend of the last n observed rates at the next interval's end (0 or 1: off)",
    placeholder: '<n>',
  },
  scaleDownHold: {
    flag: 'scale-down-hold',
    env: 'DYN_PLANNER_SCALE_DOWN_HOLD',
    schema: z.coerce.number().int().min(1).max(64).default(SCALE_DOWN_HOLD),
    description: 'throughput loop: scale down once this many proposals in a row are lower (1: at once)',
    placeholder: '<n>',
  },
  scaleDownStep: {
    flag: 'scale-down-step',
    env: 'DYN_PLANNER_SCALE_DOWN_STEP',
    schema: z.coerce.number().int().min(0).max(1024).default(0),
    description: 'throughput loop: release at most this many replicas per decision (0: no limit)',
    placeholder: '<n>',
  },
  minReplicas: {
    flag: 'min-replicas',
    env: 'DYN_PLANNER_MIN_REPLICAS',
    schema: count(1),
    description: 'fewest replicas per service',
    placeholder: '<n>',
  },
  maxReplicas: {
    flag: 'max-replicas',
    env: 'DYN_PLANNER_MAX_REPLICAS',
    schema: count(8),
    description: 'most replicas per service',
    placeholder: '<n>',
  },
  maxGpuBudget: {
    flag: 'max-gpu-budget',
    env: 'DYN_PLANNER_MAX_GPU_BUDGET',
    schema: z.coerce.number().int().min(0).optional(),
    description: "most GPUs of the sized services together (each replica: its service's GPUs, 1 when none)",
    placeholder: '<n>',
  },
  advisory: {
    flag: 'advisory',
    env: 'DYN_PLANNER_ADVISORY',
    kind: 'boolean',
    schema: z.boolean().default(false),
    description: 'decide, log and export metrics; scale nothing (Dynamo: --no-operation)',
  },
} as const;

/** The frontend's waiting room for models scaled to zero (`dynamo run`; `dynamo frontend` may spread it). */
export const WORKER_WAIT_OPTIONS = {
  workerWaitQueue: {
    flag: 'worker-wait-queue',
    env: 'DYN_WORKER_WAIT_QUEUE',
    schema: count(DEFAULT_WORKER_WAIT.maxWaiting),
    description: 'requests that may wait per model while it has no worker (scaled to zero); 0: 503 at once',
    placeholder: '<n>',
  },
  workerWaitTimeout: {
    flag: 'worker-wait-timeout',
    env: 'DYN_WORKER_WAIT_TIMEOUT',
    schema: positive.default(DEFAULT_WORKER_WAIT.timeoutMs / 1000),
    description: 'seconds a request waits for a worker of a model scaled to zero before its 503',
    placeholder: '<s>',
  },
} as const;

export type PlannerValues = OptionValues<typeof PLANNER_OPTIONS>;

/** The planner's settings from its flags (services and mode are the caller's). */
export function plannerSettings(o: PlannerValues): Omit<PlannerConfig, 'services' | 'mode'> {
  if (o.loadPredictor === 'seasonal' && o.loadPredictorSeason === undefined)
    throw new UsageError('--load-predictor seasonal needs --load-predictor-season <intervals>');
  // --min-replicas above --max-replicas is not refused here: `dynamo planner` keeps running and says
  // budget_infeasible (a pod must not crash-loop on it); `dynamo run` refuses it itself.
  return {
    scaling: o.advisory ? 'advisory' : 'active',
    targets: { ttftMs: o.ttft, itlMs: o.itl, ttftMissShare: o.ttftMissShare },
    adjustmentIntervalMs: o.adjustmentInterval * 1000,
    loadIntervalMs: o.loadInterval * 1000,
    predictor: {
      kind: o.loadPredictor,
      ...(o.loadPredictorSeason === undefined ? {} : { seasonLength: o.loadPredictorSeason }),
      ...(o.loadPredictor === 'moving-average' ? { window: o.loadPredictorWindow } : {}),
    },
    limits: { minReplicas: o.minReplicas, maxReplicas: o.maxReplicas, maxGpuBudget: o.maxGpuBudget },
    scaleDownRatio: o.scaleDownRatio,
    trendWindow: o.trendWindow,
    scaleDownHold: o.scaleDownHold,
    scaleDownStep: o.scaleDownStep,
  };
}

export function workerWaitSettings(o: OptionValues<typeof WORKER_WAIT_OPTIONS>): WorkerWaitOptions {
  return { maxWaiting: o.workerWaitQueue, timeoutMs: o.workerWaitTimeout * 1000 };
}

/** Reads and validates a profile; a UsageError naming the file and the cause otherwise. */
export async function loadProfile(path: string | undefined): Promise<PlannerProfile> {
  if (path === undefined)
    throw new UsageError(
      '--profile (or DYN_PLANNER_PROFILE): the planner needs a profile (write one with `dynamo profile`)',
    );
  try {
    return await readProfile(path);
  } catch (err) {
    throw new UsageError(`--profile: ${(err as Error).message}`);
  }
}
