// Test doubles shared by the planner's unit tests: a hand-made engine model with round numbers, a
// connector that records scale calls, traffic and load sources fed by the test.
import type { LoadMetrics } from '../../../src/api/index.js';
import { ConnectorError, type PlannerConnector, type ServiceState } from '../../../src/planner/connector.js';
import type { EngineModel } from '../../../src/planner/engine-model.js';
import type { LoadSource } from '../../../src/planner/load-reports.js';
import { known, type Metric, unknown } from '../../../src/planner/metric.js';
import type { TrafficObservation, TrafficSource } from '../../../src/planner/traffic.js';

/** prefill 10 000 tok/s, TTFT = ISL/10 ms; decode 2 000 tok/s at any ITL target ≥ 11 ms; ITL = 10 + c ms. */
export const ENGINE: EngineModel = {
  prefillCapacity: () => 10_000,
  ttftAt: (isl) => isl / 10,
  decodeCapacity: (_context, itl) => (itl >= 11 ? 2_000 : 0),
  itlAt: (_context, concurrency) => 10 + concurrency,
};

export class FakeConnector implements PlannerConnector {
  readonly scaled: { name: string; replicas: number }[] = [];
  readonly state = new Map<string, ServiceState>();
  failServices: string | undefined;
  /** Ready replicas follow a scale at once unless false. */
  instantReady = true;

  constructor(services: Record<string, number>, gpusPerReplica = 1) {
    for (const [name, replicas] of Object.entries(services))
      this.state.set(name, { name, replicas, readyReplicas: replicas, gpusPerReplica });
  }

  async services(names: readonly string[]): Promise<ServiceState[]> {
    if (this.failServices !== undefined) throw new ConnectorError(this.failServices);
    return names.map((n) => {
      const s = this.state.get(n);
      if (s === undefined) throw new ConnectorError(`service ${n} not found in the graph`);
      return s;
    });
  }

  async scale(name: string, replicas: number): Promise<void> {
    this.scaled.push({ name, replicas });
    const s = this.state.get(name);
    if (s)
      this.state.set(name, { ...s, replicas, readyReplicas: this.instantReady ? replicas : s.readyReplicas });
  }

  async close(): Promise<void> {}
}

export const UNKNOWN_TRAFFIC: TrafficObservation = {
  requestRate: unknown('unreachable', 'test'),
  isl: unknown('unreachable', 'test'),
  osl: unknown('unreachable', 'test'),
  ttftMs: unknown('unreachable', 'test'),
  itlMs: unknown('unreachable', 'test'),
  kvHitRate: unknown('unreachable', 'test'),
};

export function traffic(
  rate: number,
  isl = 3000,
  osl = 150,
  kvHitRate: Metric = known(0),
): TrafficObservation {
  return {
    requestRate: known(rate),
    isl: known(isl),
    osl: known(osl),
    ttftMs: known(100),
    itlMs: known(20),
    kvHitRate,
  };
}

/** Answers what the test last set. */
export class FakeTraffic implements TrafficSource {
  next: TrafficObservation = UNKNOWN_TRAFFIC;
  windows: number[] = [];
  async observe(windowSeconds: number): Promise<TrafficObservation> {
    this.windows.push(windowSeconds);
    return this.next;
  }
}

export class FakeLoads implements LoadSource {
  readonly byComponent = new Map<string, LoadMetrics[]>();
  reports(component: string): LoadMetrics[] {
    return this.byComponent.get(component) ?? [];
  }
  close(): void {}
}

export function report(worker: number, load: Partial<LoadMetrics> = {}): LoadMetrics {
  return {
    workerId: worker.toString(16).padStart(16, '0') as LoadMetrics['workerId'],
    activeBlocks: 0,
    totalBlocks: 1000,
    waitingRequests: 0,
    runningRequests: 0,
    pendingPrefillTokens: 0,
    ...load,
  };
}
