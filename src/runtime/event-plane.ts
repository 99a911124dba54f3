// Event plane: typed publish/subscribe per component (DESIGN §5): KV events and load metrics, from
// workers to routers. Two backends: NATS and in-process. Delivery is at most once and in order per
// publisher; every received message is validated, malformed ones are counted and logged, never thrown.
import type { z } from 'zod';
import {
  type KvEvent,
  kvEventSchema,
  kvEventsSubject,
  type LoadMetrics,
  loadMetricsSchema,
  loadMetricsSubject,
} from '../api/index.js';

export interface EventTopic<T> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  subject(namespace: string, component: string): string;
}

export const KV_EVENTS: EventTopic<KvEvent> = {
  name: 'kv_events',
  schema: kvEventSchema,
  subject: kvEventsSubject,
};

export const LOAD_METRICS: EventTopic<LoadMetrics> = {
  name: 'load_metrics',
  schema: loadMetricsSchema,
  subject: loadMetricsSubject,
};

export interface ComponentScope {
  namespace: string;
  component: string;
}

export interface Subscription {
  close(): void;
}

export interface EventPlane {
  /** Fire and forget (buffered by the transport); the payload is not validated on this side. */
  publish<T>(topic: EventTopic<T>, scope: ComponentScope, event: T): void;
  /** Resolves once the subscription is active (events published after that are delivered). */
  subscribe<T>(
    topic: EventTopic<T>,
    scope: ComponentScope,
    listener: (event: T) => void,
  ): Promise<Subscription>;
  close(): Promise<void>;
}
