// How bunched a closed-loop client's requests arrived, from aiperf's per-request records
// (profile_export.jsonl). Requests sent within BUNCH_MS of the one before wait behind each other's
// parsing and tokenizing on the server's one thread, and on the client's side: their clients had fallen
// into lockstep (requests that finish in one engine step come back together), and how far a run falls
// into it varies between runs of one policy. Reported per run so that a TTFT ratio can be read against it
// (docs/architecture.md, "Where the 4 × 8 system-context gap sits").
import { z } from 'zod';

/** A request sent within this many ms of the one before it is bunched. */
export const BUNCH_MS = 3;

export const aiperfRecordSchema = z.object({
  metadata: z.object({
    benchmark_phase: z.string(),
    request_start_ns: z.number(),
  }),
  metrics: z.object({
    time_to_first_token: z.object({ value: z.number() }).optional(),
  }),
});
export type AiperfRecord = z.infer<typeof aiperfRecordSchema>;

export interface ArrivalBunching {
  /** Measured requests sent within BUNCH_MS of the one before, in % of those with a TTFT. */
  bunchedPct: number;
  /** Mean TTFT of the bunched requests (null: none) and of the others (null: none). */
  bunchedTtftMeanMs: number | null;
  spreadTtftMeanMs: number | null;
}

/** Over the records of aiperf's profiling phase that have a TTFT; null when there are none. */
export function arrivalBunching(records: readonly AiperfRecord[]): ArrivalBunching | null {
  const sent: { at: number; ttft: number }[] = [];
  for (const r of records) {
    const ttft = r.metrics.time_to_first_token?.value;
    if (r.metadata.benchmark_phase === 'profiling' && ttft !== undefined) {
      sent.push({ at: r.metadata.request_start_ns / 1e6, ttft });
    }
  }
  if (sent.length === 0) return null;
  sent.sort((a, b) => a.at - b.at);
  let bunched = 0;
  let bunchedSum = 0;
  let spreadSum = 0;
  let previous = Number.NEGATIVE_INFINITY;
  for (const { at, ttft } of sent) {
    if (at - previous < BUNCH_MS) {
      bunched++;
      bunchedSum += ttft;
    } else spreadSum += ttft;
    previous = at;
  }
  const spread = sent.length - bunched;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    bunchedPct: round((100 * bunched) / sent.length),
    bunchedTtftMeanMs: bunched === 0 ? null : round(bunchedSum / bunched),
    spreadTtftMeanMs: spread === 0 ? null : round(spreadSum / spread),
  };
}
