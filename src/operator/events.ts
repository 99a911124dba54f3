// Kubernetes Events for the transitions a user wants to see in `kubectl describe` (created children,
// Ready gained or lost, scaled, failed, cleaned up). Sent in the background: an event that cannot be
// written is logged, never allowed to fail a reconcile.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../runtime/logger.js';
import type { CallOptions, KubeClient } from './kube/client.js';
import { type KubeObject, RT } from './kube/types.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
  ) {}

  /** `opts.signal`: the reconcile's, so an event of a term that ended is not written after it. */
  record(obj: KubeObject, type: EventType, reason: string, message: string, opts: CallOptions = {}): void {
    const now = new Date().toISOString();
    const namespace = obj.metadata.namespace ?? 'default';
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.client.create(RT.event, event, opts).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message, reason }, 'event not recorded');
    });
  }
}
