// A worker's KV transfer metrics (DESIGN §12), on the registry its system server exposes: pulls and
// bytes a decode worker moved, failures by code (refused descriptors included), pins a prefill worker
// holds. Workers sharing a registry (`dynamo run`) share the metrics, told apart by component.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { KvTransferErrorCode } from '../api/index.js';
import type { KvTransferObserver } from '../engines/kv-transfer.js';

const LABELS = ['dynamo_namespace', 'dynamo_component'] as const;

/** The metric already registered under `name`, or a new one. */
function shared<M, C>(registry: Registry, name: string, Metric: new (config: C) => M, config: C): M {
  const existing = registry.getSingleMetric(name);
  return existing instanceof Metric ? existing : new Metric(config);
}

export function kvTransferObserver(
  registry: Registry,
  scope: { namespace: string; component: string },
): KvTransferObserver {
  const registers = [registry];
  const labels = { dynamo_namespace: scope.namespace, dynamo_component: scope.component };
  const pulls = shared(registry, 'dynamo_component_kv_transfer_pulls_total', Counter, {
    name: 'dynamo_component_kv_transfer_pulls_total',
    help: 'KV pulls a decode worker completed (release-only handshakes included)',
    labelNames: LABELS,
    registers,
  });
  const bytes = shared(registry, 'dynamo_component_kv_transfer_bytes_total', Counter, {
    name: 'dynamo_component_kv_transfer_bytes_total',
    help: 'KV bytes a decode worker pulled',
    labelNames: LABELS,
    registers,
  });
  const failures = shared(registry, 'dynamo_component_kv_transfer_failures_total', Counter, {
    name: 'dynamo_component_kv_transfer_failures_total',
    help: 'Decode-phase imports that failed or whose descriptor was refused, by transfer error code',
    labelNames: [...LABELS, 'code'],
    registers,
  });
  const pins = shared(registry, 'dynamo_component_kv_pinned_transfers', Gauge, {
    name: 'dynamo_component_kv_pinned_transfers',
    help: 'Prefill pins held: prompts whose KV blocks wait for a decode worker to pull them',
    labelNames: LABELS,
    registers,
  });
  return {
    pulled: (_blocks: number, n: number) => {
      pulls.labels(labels).inc();
      bytes.labels(labels).inc(n);
    },
    failed: (code: KvTransferErrorCode) => failures.labels({ ...labels, code }).inc(),
    pins: (delta: number) => {
      if (delta >= 0) pins.labels(labels).inc(delta);
      else pins.labels(labels).dec(-delta);
    },
  };
}
