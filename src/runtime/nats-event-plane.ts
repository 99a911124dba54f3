// Event plane on NATS core pub/sub: one JSON message per event on dynamo.{ns}.{component}.{topic}.
// Every message received is parsed and validated with the topic's schema; a malformed one is counted
// (dynamo_runtime_malformed_messages_total{plane="event"}) and logged, never delivered or thrown.
import type { NatsConnection, Subscription as NatsSubscription } from 'nats';
import type { ComponentScope, EventPlane, EventTopic, Subscription } from './event-plane.js';
import type { Logger } from './logger.js';
import type { RuntimeMetrics } from './metrics.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class NatsEventPlane implements EventPlane {
  private readonly subscriptions = new Set<NatsSubscription>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly metrics: RuntimeMetrics,
    private readonly log: Logger,
  ) {}

  publish<T>(topic: EventTopic<T>, scope: ComponentScope, event: T): void {
    try {
      this.nc.publish(topic.subject(scope.namespace, scope.component), encoder.encode(JSON.stringify(event)));
    } catch (err) {
      // Closed connection or reconnect buffer full: events are at most once, the router resyncs.
      this.log.warn({ err, topic: topic.name }, 'event not published');
    }
  }

  async subscribe<T>(
    topic: EventTopic<T>,
    scope: ComponentScope,
    listener: (event: T) => void,
  ): Promise<Subscription> {
    const subject = topic.subject(scope.namespace, scope.component);
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err, subject }, 'event subscription error');
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(decoder.decode(msg.data));
        } catch {
          this.malformed(subject, 'not JSON');
          return;
        }
        const parsed = topic.schema.safeParse(body);
        if (!parsed.success) {
          this.malformed(subject, parsed.error.message);
          return;
        }
        try {
          listener(parsed.data);
        } catch (err) {
          this.log.error({ err, subject }, 'event listener threw');
        }
      },
    });
    this.subscriptions.add(sub);
    await this.nc.flush();
    return {
      close: () => {
        this.subscriptions.delete(sub);
        sub.unsubscribe();
      },
    };
  }

  async close(): Promise<void> {
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions.clear();
  }

  private malformed(subject: string, reason: string): void {
    this.metrics.malformedMessage('event');
    this.log.warn({ subject, reason }, 'malformed event dropped');
  }
}
