// A worker's engine gauges under Dynamo's names (`dynamo_component_kvstats_*`, as its docs and
// dashboards read them), set from the same load metrics the worker publishes to routers, and request
// slots as Dynamo's ForwardPassMetrics count them. Workers sharing a registry (`dynamo run`: the
// frontend's /metrics) are told apart by `worker_id`, their instance id.
import { Gauge, type Registry } from 'prom-client';
import type { InstanceId, LoadMetrics } from '../api/index.js';

const LABELS = ['dynamo_namespace', 'dynamo_component', 'worker_id'] as const;
type Label = (typeof LABELS)[number];

const GAUGES = {
  activeBlocks: ['dynamo_component_kvstats_active_blocks', 'KV cache blocks in use'],
  totalBlocks: ['dynamo_component_kvstats_total_blocks', 'KV cache blocks the engine has'],
  usage: ['dynamo_component_kvstats_gpu_cache_usage_percent', 'KV cache blocks in use, as a fraction (0..1)'],
  hitRate: [
    'dynamo_component_kvstats_gpu_prefix_cache_hit_rate',
    'Prompt tokens served from the prefix cache, as a fraction of prompt tokens since the worker started',
  ],
  activeSlots: ['dynamo_component_request_active_slots', 'Requests the engine runs now'],
  totalSlots: [
    'dynamo_component_request_total_slots',
    'Requests the engine runs at once at most (max sequences)',
  ],
  waiting: ['dynamo_component_num_requests_waiting', 'Requests waiting for the engine to admit them'],
} as const;
type GaugeName = keyof typeof GAUGES;

export interface EngineGauges {
  /** A response's first frame: `cached` of the request's `prompt` tokens came from the prefix cache. */
  prompt(prompt: number, cached: number): void;
  update(load: Omit<LoadMetrics, 'workerId'>): void;
  /** The worker stopped: its series go away. */
  remove(): void;
}

export function engineGauges(
  registry: Registry,
  scope: { namespace: string; component: string },
  workerId: InstanceId,
  maxNumSeqs: number,
): EngineGauges {
  const labels: Record<Label, string> = {
    dynamo_namespace: scope.namespace,
    dynamo_component: scope.component,
    worker_id: workerId,
  };
  const gauges = {} as Record<GaugeName, Gauge<Label>>;
  for (const [key, [name, help]] of Object.entries(GAUGES) as [GaugeName, readonly [string, string]][]) {
    const existing = registry.getSingleMetric(name);
    gauges[key] =
      existing instanceof Gauge
        ? (existing as Gauge<Label>)
        : new Gauge({ name, help, labelNames: LABELS, registers: [registry] });
  }
  let promptTokens = 0;
  let cachedTokens = 0;
  const set = (key: GaugeName, value: number) => gauges[key].labels(labels).set(value);
  set('totalSlots', maxNumSeqs);
  return {
    prompt(prompt, cached) {
      promptTokens += prompt;
      cachedTokens += cached;
      set('hitRate', promptTokens === 0 ? 0 : cachedTokens / promptTokens);
    },
    update(load) {
      set('activeBlocks', load.activeBlocks);
      set('totalBlocks', load.totalBlocks);
      set('usage', load.totalBlocks === 0 ? 0 : load.activeBlocks / load.totalBlocks);
      set('activeSlots', load.runningRequests);
      set('waiting', load.waitingRequests);
      if (promptTokens === 0) set('hitRate', 0);
    },
    remove() {
      for (const gauge of Object.values(gauges)) gauge.remove(labels);
    },
  };
}
