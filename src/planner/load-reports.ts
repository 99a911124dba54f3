// OBSERVE for the load loop: the load reports workers publish on the event plane
// (dynamo.{ns}.{component}.load_metrics, every --load-metrics-interval of the worker), the latest per
// worker, forgotten once older than `staleAfterMs` (a worker that stopped reporting is gone or stuck:
// its last figures must not keep deciding).
import type { LoadMetrics } from '../api/index.js';
import { type EventPlane, LOAD_METRICS, type Subscription } from '../runtime/index.js';

export interface LoadSource {
  /** Fresh reports of the component's workers, one per worker. */
  reports(component: string): LoadMetrics[];
  close(): void;
}

/** The latest report per worker of each component, with the time it arrived. */
export class LoadReports implements LoadSource {
  private readonly latest = new Map<string, Map<string, { report: LoadMetrics; at: number }>>();

  constructor(
    private readonly staleAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(component: string, report: LoadMetrics): void {
    let workers = this.latest.get(component);
    if (workers === undefined) {
      workers = new Map();
      this.latest.set(component, workers);
    }
    workers.set(report.workerId, { report, at: this.now() });
  }

  reports(component: string): LoadMetrics[] {
    const workers = this.latest.get(component);
    if (workers === undefined) return [];
    const cutoff = this.now() - this.staleAfterMs;
    const fresh: LoadMetrics[] = [];
    for (const [id, entry] of workers) {
      if (entry.at < cutoff) workers.delete(id);
      else fresh.push(entry.report);
    }
    return fresh;
  }

  close(): void {}
}

/** Subscribes to the components' load metrics on an event plane; close() ends the subscriptions. */
export async function subscribeLoadReports(options: {
  eventPlane: EventPlane;
  namespace: string;
  components: readonly string[];
  staleAfterMs: number;
  now?: () => number;
}): Promise<LoadSource> {
  const store = new LoadReports(options.staleAfterMs, options.now);
  const subscriptions: Subscription[] = [];
  try {
    for (const component of new Set(options.components)) {
      subscriptions.push(
        await options.eventPlane.subscribe(LOAD_METRICS, { namespace: options.namespace, component }, (m) =>
          store.record(component, m),
        ),
      );
    }
  } catch (err) {
    for (const s of subscriptions) s.close();
    throw err;
  }
  return {
    reports: (component) => store.reports(component),
    close: () => {
      for (const s of subscriptions) s.close();
    },
  };
}
