// OBSERVE for the throughput loop: Prometheus's HTTP query API (GET /api/v1/query), answers validated
// with zod. Nothing here throws for a failed query: an unreachable server, an HTTP or API error, a
// malformed answer, an empty vector or 0/0 all become an unknown Metric naming why.
import { z } from 'zod';
import { known, type Metric, unknown } from './metric.js';

const sampleSchema = z.object({
  metric: z.record(z.string(), z.string()),
  value: z.tuple([z.number(), z.string()]),
});
const responseSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.object({ resultType: z.literal('vector'), result: z.array(sampleSchema) }),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string().optional() }),
]);

export interface PrometheusClientOptions {
  /** Base URL, e.g. http://prometheus:9090 (PROMETHEUS_ENDPOINT). */
  endpoint: string;
  /** Per query; 10 s by default. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class PrometheusClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: PrometheusClientOptions) {
    this.base = options.endpoint.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? fetch;
  }

  /**
   * An instant query whose answer is one number: the sum of the vector's samples (queries here
   * aggregate with sum() already). Empty vector → unknown `no_data`; NaN (0/0) → `no_samples`.
   */
  async scalar(promql: string): Promise<Metric> {
    let res: Response;
    try {
      res = await this.fetch(`${this.base}/api/v1/query?query=${encodeURIComponent(promql)}`, {
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      return unknown('unreachable', `${this.base}: ${cause}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      return unknown(res.ok ? 'malformed_response' : 'http_error', `HTTP ${res.status}, body not JSON`);
    }
    const parsed = responseSchema.safeParse(body);
    if (!parsed.success) {
      if (!res.ok) return unknown('http_error', `HTTP ${res.status}`);
      return unknown('malformed_response', parsed.error.issues[0]?.message ?? 'unexpected shape');
    }
    if (parsed.data.status === 'error')
      return unknown(
        'http_error',
        `HTTP ${res.status}: ${parsed.data.errorType ?? 'error'}: ${parsed.data.error ?? ''}`,
      );
    const samples = parsed.data.data.result;
    if (samples.length === 0) return unknown('no_data', promql);
    let sum = 0;
    for (const s of samples) {
      const v = Number(s.value[1]);
      if (Number.isNaN(v)) return unknown('no_samples', promql);
      if (!Number.isFinite(v)) return unknown('not_finite', `${s.value[1]} from ${promql}`);
      sum += v;
    }
    return known(sum);
  }
}
