// The runtime's Prometheus metrics, in the registry the worker's system server exposes. Names follow
// Dynamo's (`dynamo_component_*`, labelled by namespace/component/endpoint) so its dashboards apply.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EndpointId } from '../api/index.js';

const ENDPOINT_LABELS = ['dynamo_namespace', 'dynamo_component', 'dynamo_endpoint'] as const;

/** Server-side accounting of one endpoint's requests; children are bound once per endpoint. */
export interface EndpointMetrics {
  /** Call when a request is accepted; call the returned function once when it ends. */
  start(): (outcome: 'ok' | 'cancelled' | 'error', errorType?: string) => void;
}

export class RuntimeMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<(typeof ENDPOINT_LABELS)[number]>;
  private readonly inflight: Gauge<(typeof ENDPOINT_LABELS)[number]>;
  private readonly duration: Histogram<(typeof ENDPOINT_LABELS)[number]>;
  private readonly errors: Counter<(typeof ENDPOINT_LABELS)[number] | 'error_type'>;
  private readonly malformed: Counter<'plane'>;

  /** Runtimes sharing one registry (one /metrics for `dynamo run`) share these metrics too. */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests = shared(registry, 'dynamo_component_requests_total', Counter, {
      name: 'dynamo_component_requests_total',
      help: 'Requests an endpoint accepted',
      labelNames: ENDPOINT_LABELS,
      registers,
    });
    this.inflight = shared(registry, 'dynamo_component_inflight_requests', Gauge, {
      name: 'dynamo_component_inflight_requests',
      help: 'Requests an endpoint is processing now',
      labelNames: ENDPOINT_LABELS,
      registers,
    });
    this.duration = shared(registry, 'dynamo_component_request_duration_seconds', Histogram, {
      name: 'dynamo_component_request_duration_seconds',
      help: 'Time from accepting a request to the end of its response stream',
      labelNames: ENDPOINT_LABELS,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.errors = shared(registry, 'dynamo_component_errors_total', Counter, {
      name: 'dynamo_component_errors_total',
      help: 'Requests of an endpoint that ended with an error (error_type: the request-plane code)',
      labelNames: [...ENDPOINT_LABELS, 'error_type'],
      registers,
    });
    this.malformed = shared(registry, 'dynamo_runtime_malformed_messages_total', Counter, {
      name: 'dynamo_runtime_malformed_messages_total',
      help: 'Wire messages rejected by validation (plane: request, control, response, event, discovery)',
      labelNames: ['plane'],
      registers,
    });
  }

  endpoint(ep: EndpointId): EndpointMetrics {
    const labels = {
      dynamo_namespace: ep.namespace,
      dynamo_component: ep.component,
      dynamo_endpoint: ep.endpoint,
    };
    const requests = this.requests.labels(labels);
    const inflight = this.inflight.labels(labels);
    const duration = this.duration.labels(labels);
    return {
      start: () => {
        requests.inc();
        inflight.inc();
        const began = performance.now();
        return (outcome, errorType) => {
          inflight.dec();
          duration.observe((performance.now() - began) / 1000);
          if (outcome === 'error')
            this.errors.labels({ ...labels, error_type: errorType ?? 'handler_error' }).inc();
        };
      },
    };
  }

  malformedMessage(plane: 'request' | 'control' | 'response' | 'event' | 'discovery'): void {
    this.malformed.labels({ plane }).inc();
  }
}

/** The metric already registered under `name`, or a new one. */
function shared<M, C>(registry: Registry, name: string, Metric: new (config: C) => M, config: C): M {
  const existing = registry.getSingleMetric(name);
  return existing instanceof Metric ? existing : new Metric(config);
}
