// In-process event plane: a subject → listeners map shared by the runtimes of a process. Events are
// delivered by reference in a microtask (never inside the publisher's call stack, as over NATS), so
// a publisher must not mutate an event after publishing it.

import type { ComponentScope, EventPlane, EventTopic, Subscription } from './event-plane.js';
import type { Logger } from './logger.js';

export class MemoryEventBus {
  readonly subjects = new Map<string, Set<(event: unknown) => void>>();
}

export class MemoryEventPlane implements EventPlane {
  private readonly subscriptions = new Set<() => void>();

  constructor(
    private readonly bus: MemoryEventBus,
    private readonly log: Logger,
  ) {}

  publish<T>(topic: EventTopic<T>, scope: ComponentScope, event: T): void {
    const listeners = this.bus.subjects.get(topic.subject(scope.namespace, scope.component));
    if (!listeners || listeners.size === 0) return;
    queueMicrotask(() => {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (err) {
          this.log.error({ err, topic: topic.name }, 'event listener threw');
        }
      }
    });
  }

  async subscribe<T>(
    topic: EventTopic<T>,
    scope: ComponentScope,
    listener: (event: T) => void,
  ): Promise<Subscription> {
    const subject = topic.subject(scope.namespace, scope.component);
    let listeners = this.bus.subjects.get(subject);
    if (!listeners) {
      listeners = new Set();
      this.bus.subjects.set(subject, listeners);
    }
    // Only this plane's publishers put T on this subject (typed by the same topic).
    const untyped = listener as (event: unknown) => void;
    listeners.add(untyped);
    const set = listeners;
    const stop = () => {
      set.delete(untyped);
      if (set.size === 0 && this.bus.subjects.get(subject) === set) this.bus.subjects.delete(subject);
      this.subscriptions.delete(stop);
    };
    this.subscriptions.add(stop);
    return { close: stop };
  }

  async close(): Promise<void> {
    for (const stop of [...this.subscriptions]) stop();
  }
}
