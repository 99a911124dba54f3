// The operator's Prometheus metrics (served on :8080/metrics), one registry per process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: 'dynamo_operator_reconcile_total',
    help: 'Reconciles by controller and result (success, requeue, error, terminal)',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'dynamo_operator_reconcile_errors_total',
    help: 'Reconciles that failed, by controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'dynamo_operator_reconcile_duration_seconds',
    help: 'Time of one reconcile, by controller',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'dynamo_operator_workqueue_depth',
    help: 'Keys waiting in the work queue, by controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly admissions = new Counter({
    name: 'dynamo_operator_admission_total',
    help: 'Admission reviews by webhook and verdict (allowed, denied, error)',
    labelNames: ['webhook', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'dynamo_operator_watch_restarts_total',
    help: 'Watch streams started again, by kind and cause (end, gone, error)',
    labelNames: ['kind', 'cause'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'dynamo_operator_leader',
    help: '1 while this replica holds the leader lease',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dynamo_operator_' });
  }
}
