// The informer's indexes kept current through adds, updates, deletes and a relist after 410, fed by a
// fake client (the list → watch protocol itself is exercised against a real API server by the
// integration tests).
import { describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient, type WatchEvent } from '../../../src/operator/kube/client.js';
import { type IndexFunc, Informer, OWNER_INDEX } from '../../../src/operator/kube/informer.js';
import { type KubeObject, objectKey, RT } from '../../../src/operator/kube/types.js';
import { createLogger } from '../../../src/runtime/logger.js';

const pod = (name: string, owners: { uid: string; controller?: boolean }[], label?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'ns',
    resourceVersion: '1',
    labels: label ? { app: label } : {},
    ownerReferences: owners.map((o) => ({ apiVersion: 'v1', kind: 'X', name: o.uid, ...o })),
    managedFields: [{ manager: 'someone', fieldsV1: { 'f:spec': {} } }],
  } as KubeObject['metadata'],
});

/** Answers lists from `items` and holds one watch open, delivering what the test sends. */
class FakeClient {
  items: KubeObject[] = [];
  lists = 0;
  private deliver: ((e: WatchEvent) => void) | undefined;
  private fail: ((err: Error) => void) | undefined;

  async list() {
    this.lists++;
    return { items: structuredClone(this.items), resourceVersion: String(this.lists) };
  }

  watch(_rt: unknown, opts: { signal: AbortSignal }, onEvent: (e: WatchEvent) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.deliver = onEvent;
      this.fail = reject;
      opts.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  async send(type: WatchEvent['type'], object: KubeObject) {
    await expect.poll(() => this.deliver !== undefined).toBe(true);
    this.deliver?.({ type, object: structuredClone(object) });
  }

  /** Ends the watch with 410 Gone: the informer lists again. */
  expire() {
    this.deliver = undefined;
    this.fail?.(new KubeApiError(410, 'Expired', 'too old resource version'));
  }
}

const names = (objs: KubeObject[]) => objs.map((o) => o.metadata.name).sort();
const byApp: IndexFunc = (o) => (o.metadata.labels?.app ? [o.metadata.labels.app] : []);

describe('informer indexes', () => {
  it('are kept current on add, update, delete and a relist after 410', async () => {
    const fake = new FakeClient();
    fake.items = [
      pod('a', [{ uid: 'u1', controller: true }], 'x'),
      pod('b', [{ uid: 'u1', controller: true }], 'x'),
    ];
    const informer = new Informer(fake as unknown as KubeClient, RT.pod, {
      log: createLogger({ level: 'silent' }),
    });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    try {
      await informer.synced;
      expect(names(informer.byIndex(OWNER_INDEX, 'u1'))).toEqual(['a', 'b']);
      // Added after the cache filled: indexes what is there.
      informer.addIndex('app', byApp);
      expect(names(informer.byIndex('app', 'x'))).toEqual(['a', 'b']);
      // managedFields are not kept.
      expect(informer.get(objectKey('ns', 'a'))?.metadata).not.toHaveProperty('managedFields');

      // A reference without controller: true is no controlling owner.
      await fake.send('ADDED', pod('c', [{ uid: 'u2', controller: true }, { uid: 'u3' }], 'y'));
      expect(names(informer.byIndex(OWNER_INDEX, 'u2'))).toEqual(['c']);
      expect(informer.byIndex(OWNER_INDEX, 'u3')).toEqual([]);

      // An update moves the object between values.
      await fake.send('MODIFIED', pod('b', [{ uid: 'u2', controller: true }], 'y'));
      expect(names(informer.byIndex(OWNER_INDEX, 'u1'))).toEqual(['a']);
      expect(names(informer.byIndex(OWNER_INDEX, 'u2'))).toEqual(['b', 'c']);
      expect(names(informer.byIndex('app', 'y'))).toEqual(['b', 'c']);

      await fake.send('DELETED', pod('a', [{ uid: 'u1', controller: true }], 'x'));
      expect(informer.byIndex(OWNER_INDEX, 'u1')).toEqual([]);
      expect(informer.byIndex('app', 'x')).toEqual([]);

      // b is gone while the watch was down: the relist deletes it from the cache and its indexes.
      fake.items = [pod('c', [{ uid: 'u2', controller: true }], 'y')];
      fake.expire();
      await expect.poll(() => informer.byIndex(OWNER_INDEX, 'u2').length).toBe(1);
      expect(names(informer.byIndex('app', 'y'))).toEqual(['c']);
      expect(names(informer.list())).toEqual(['c']);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('refuses a second function under a name, and a lookup in an index that does not exist', () => {
    const informer = new Informer({} as KubeClient, RT.pod, { log: createLogger({ level: 'silent' }) });
    informer.addIndex('app', byApp).addIndex('app', byApp); // the same one again: shared informers
    expect(() => informer.addIndex('app', (o) => [o.metadata.name])).toThrow(
      'Pod informer: index app exists',
    );
    expect(() => informer.byIndex('nope', 'x')).toThrow('Pod informer: no index nope');
  });
});
