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
  /**
   * Prompt tokens computed since the engine started, and the wall-clock seconds of the steps that
   * computed them (decode rows riding along included): cumulative, so that a reader takes differences
   * between two reports and gets the prefill throughput the engine really achieves under its load
   * (the planner corrects its profile with it). Optional: older workers do not send them.
   */
  prefillTokensTotal: z.number().int().nonnegative().optional(),
  prefillSeconds: z.number().nonnegative().optional(),
});
export type LoadMetrics = z.infer<typeof loadMetricsSchema>;
