// Load metrics a worker publishes on the event plane (dynamo.{ns}.{component}.load_metrics).
import { z } from 'zod';
import { instanceIdSchema } from './ids.js';

export const loadMetricsSchema = z.object({
  workerId: instanceIdSchema,
  activeBlocks: z.number().int().nonnegative(),
  totalBlocks: z.number().int().positive(),
  waitingRequests: z.number().int().nonnegative(),
  runningRequests: z.number().int().nonnegative(),
  /** Prompt tokens admitted but not yet prefilled. */
  pendingPrefillTokens: z.number().int().nonnegative(),
});
export type LoadMetrics = z.infer<typeof loadMetricsSchema>;
