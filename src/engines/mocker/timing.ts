// The mocker's timing model (after Dynamo's mocker): how long a simulated engine step takes.
//   prefill ms = a·t² + b·t + c   for the t uncached prompt tokens computed in the step
//   decode ms  = a·u² + b·u + c   with u = active KV blocks / total blocks, at least 1 ms
// A step that prefills and decodes takes both; every duration is divided by the speedup ratio.
//   transfer ms = bytes / bandwidth + latency  for the KV blocks a decode worker pulls (DESIGN §12)
import { z } from 'zod';

const coefficients = z.tuple([z.number(), z.number(), z.number()]);

export const timingModelSchema = z.object({
  prefill: coefficients.default([4.209989e-7, 1.518344e-2, 16.50142]),
  decode: coefficients.default([-25.74, 54.01, 5.74]),
  /** Divides every duration; Infinity (or noDelay) makes steps take no time. */
  speedupRatio: z.number().positive().default(1),
});
export type TimingModel = z.infer<typeof timingModelSchema>;

export function prefillMs(model: TimingModel, tokens: number): number {
  const [a, b, c] = model.prefill;
  return (a * tokens * tokens + b * tokens + c) / model.speedupRatio;
}

export function decodeMs(model: TimingModel, activeRatio: number): number {
  const [a, b, c] = model.decode;
  return Math.max(1, a * activeRatio * activeRatio + b * activeRatio + c) / model.speedupRatio;
}

/** One step: `prefillTokens` uncached tokens computed, `decodes` sequences each computing one token. */
export function stepMs(
  model: TimingModel,
  prefillTokens: number,
  decodes: number,
  activeRatio: number,
): number {
  return (
    (prefillTokens > 0 ? prefillMs(model, prefillTokens) : 0) +
    (decodes > 0 ? decodeMs(model, activeRatio) : 0)
  );
}

/**
 * A simulated KV transfer (disaggregated decode): `bytes` over a link of `bandwidthGBps` (10⁹ bytes
 * per second) plus a fixed latency, divided by the speedup ratio like every other duration.
 */
export function transferMs(
  model: TimingModel,
  bytes: number,
  bandwidthGBps: number,
  latencyMs: number,
): number {
  return ((bytes / (bandwidthGBps * 1e9)) * 1000 + latencyMs) / model.speedupRatio;
}
