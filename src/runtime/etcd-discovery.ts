// Discovery on etcd (DESIGN §5). Every key this process writes is attached to one lease (TTL 10 s,
// kept alive by etcd3), so a dead process disappears by itself. When the lease is lost (etcd was
// unreachable longer than the TTL, or the lease was revoked), a new one is granted and every
// registration is written again. Watches list a prefix, then watch from the listed revision; after
// the watch stream reconnects they list again and deliver the difference, so a watcher's view
// converges whatever was missed.
import { Etcd3, type IKeyValue, type Lease } from 'etcd3';
import type { EndpointId, Instance, InstanceId, ModelCard } from '../api/index.js';
import {
  DISCOVERY_PREFIX,
  instanceKey,
  instanceSchema,
  modelCardKey,
  modelCardSchema,
  NAME,
} from '../api/index.js';
import {
  ConnectionSecurityError,
  describeSecurity,
  type EtcdSecurity,
  etcdClientOptions,
  etcdRefusal,
  ServiceRefusedError,
} from './connection-security.js';
import type { Discovery, InstanceEvent, ModelEvent, Watch, WatchScope } from './discovery.js';
import { inScope } from './discovery.js';
import { causeText, ServiceUnreachableError } from './errors.js';
import type { Logger } from './logger.js';
import type { RuntimeMetrics } from './metrics.js';
import { ModelTracker } from './model-tracker.js';
import { boundedStep } from './shutdown-step.js';
import { DEFAULT_STARTUP_WAIT_MS, retryUntilReachable } from './startup-retry.js';

export interface EtcdDiscoveryOptions {
  endpoints: string[];
  leaseTtlSeconds: number;
  log: Logger;
  metrics: RuntimeMetrics;
  /** How long the first connection is retried before etcd counts as unreachable. */
  startupWaitMs?: number;
  /** TLS and user/password (connection-security.ts); none by default. */
  security?: EtcdSecurity;
}

/** How long close() waits for the lease's revocation (milliseconds when etcd answers). */
const REVOKE_TIMEOUT_MS = 1_000;

interface Registration {
  instance: Instance;
  card: ModelCard | undefined;
}

export class EtcdDiscovery implements Discovery {
  private lease: Lease | undefined;
  private leaseReady: Promise<Lease> | undefined;
  private readonly registrations = new Map<string, Registration>();
  private readonly watches = new Set<PrefixWatch<unknown>>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly options: EtcdDiscoveryOptions,
  ) {}

  static async connect(options: EtcdDiscoveryOptions): Promise<EtcdDiscovery> {
    const security = options.security ?? {};
    // etcd3 would speak TLS to an http:// endpoint when given credentials: say which setting is wrong.
    const plain = options.endpoints.find((e) => !e.startsWith('https://'));
    if (security.tls && plain !== undefined)
      throw new ConnectionSecurityError(`etcd TLS is configured, but endpoint ${plain} is not https://`);
    const client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: 5_000,
      ...etcdClientOptions(security),
    });
    const endpoints = options.endpoints.join(',');
    try {
      // A read, not a status call: it authenticates (when a user is set) and needs read permission,
      // so wrong credentials or a server without auth fail here rather than at the first registration.
      await retryUntilReachable(
        options.startupWaitMs ?? DEFAULT_STARTUP_WAIT_MS,
        () => client.getAll().prefix(DISCOVERY_PREFIX.instances).limit(1).keys(),
        (err) => etcdRefusal(err) !== undefined,
      );
    } catch (err) {
      client.close();
      const refusal = etcdRefusal(err);
      if (refusal !== undefined) throw new ServiceRefusedError('etcd', endpoints, refusal, err);
      // etcd with --client-cert-auth drops a handshake without one: gRPC reports no cause at all.
      const hint =
        security.tls && !security.tls.cert
          ? new Error(`${causeText(err)}; TLS without a client certificate: does the server require one?`)
          : err;
      throw new ServiceUnreachableError('etcd', endpoints, hint);
    }
    options.log.info({ endpoints: options.endpoints, ...describeSecurity(security) }, 'etcd connected');
    return new EtcdDiscovery(client, options);
  }

  async register(instance: Instance, card?: ModelCard): Promise<void> {
    const key = instanceKey(instance, instance.instanceId);
    this.registrations.set(key, { instance, card });
    await this.write(await this.currentLease(), { instance, card });
  }

  async unregister(endpoint: EndpointId, instanceId: InstanceId): Promise<void> {
    const key = instanceKey(endpoint, instanceId);
    if (!this.registrations.delete(key)) return;
    // The card first: a model must never be listed without an instance behind it.
    await this.client.delete().key(modelCardKey(endpoint, instanceId)).exec();
    await this.client.delete().key(key).exec();
  }

  async unregisterAll(): Promise<void> {
    const all = [...this.registrations.values()];
    this.registrations.clear();
    await Promise.all(
      all.map((r) => this.client.delete().key(modelCardKey(r.instance, r.instance.instanceId)).exec()),
    );
    await Promise.all(
      all.map((r) => this.client.delete().key(instanceKey(r.instance, r.instance.instanceId)).exec()),
    );
  }

  async list(scope: WatchScope): Promise<Instance[]> {
    const res = await this.client.getAll().prefix(instancePrefix(scope)).exec();
    const out: Instance[] = [];
    for (const kv of res.kvs) {
      const instance = this.parseInstance(kv);
      if (instance && inScope(scope, instance)) out.push(instance);
    }
    return out;
  }

  async watchInstances(scope: WatchScope, onEvent: (event: InstanceEvent) => void): Promise<Watch> {
    return this.startWatch<Instance>(
      instancePrefix(scope),
      (kv) => {
        const instance = this.parseInstance(kv);
        return instance && inScope(scope, instance) ? instance : undefined;
      },
      sameJson,
      (_key, instance, kind) => onEvent({ kind: kind === 'put' ? 'added' : 'removed', instance }),
    );
  }

  async watchModels(onEvent: (event: ModelEvent) => void, namespace?: string): Promise<Watch> {
    const tracker = new ModelTracker();
    const prefix =
      namespace === undefined ? DISCOVERY_PREFIX.modelCards : `${DISCOVERY_PREFIX.modelCards}${namespace}/`;
    return this.startWatch<{ endpoint: EndpointId; card: ModelCard }>(
      prefix,
      (kv) => this.parseCard(kv),
      (a, b) => sameJson(a.card, b.card),
      (key, value, kind) => {
        const events = kind === 'put' ? tracker.put(key, value.endpoint, value.card) : tracker.delete(key);
        for (const event of events) onEvent(event);
      },
    );
  }

  async modelCard(endpoint: EndpointId, instanceId: InstanceId): Promise<ModelCard | undefined> {
    const res = await this.client.get(modelCardKey(endpoint, instanceId)).exec();
    const kv = res.kvs[0];
    return kv ? this.parseCard(kv)?.card : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const watch of [...this.watches]) watch.close();
    const lease = this.lease;
    this.lease = undefined;
    this.registrations.clear();
    // Revoking removes every key of this process at once. Bounded: with etcd down the call would retry
    // past any grace period, and the lease's TTL removes the keys anyway.
    if (lease)
      await boundedStep('etcd lease revoke', REVOKE_TIMEOUT_MS, () => lease.revoke(), this.options.log);
    this.client.close();
  }

  private async startWatch<T>(
    prefix: string,
    parse: (kv: IKeyValue) => T | undefined,
    same: (a: T, b: T) => boolean,
    deliver: (key: string, value: T, kind: 'put' | 'delete') => void,
  ): Promise<Watch> {
    const watch = new PrefixWatch<T>(this.client, prefix, parse, same, deliver, this.options.log);
    this.watches.add(watch as PrefixWatch<unknown>);
    try {
      await watch.start();
    } catch (err) {
      this.watches.delete(watch as PrefixWatch<unknown>);
      watch.close();
      throw err;
    }
    return {
      close: () => {
        this.watches.delete(watch as PrefixWatch<unknown>);
        watch.close();
      },
    };
  }

  /** The lease, granted on first use and replaced when lost. */
  private currentLease(): Promise<Lease> {
    if (this.closed) return Promise.reject(new Error('discovery is closed'));
    this.leaseReady ??= this.grant();
    return this.leaseReady;
  }

  private async grant(): Promise<Lease> {
    const lease = this.client.lease(this.options.leaseTtlSeconds);
    lease.on('lost', (err) => this.onLeaseLost(lease, err));
    try {
      const id = await lease.grant();
      this.options.log.info({ leaseId: id, ttl: this.options.leaseTtlSeconds }, 'etcd lease granted');
    } catch (err) {
      this.leaseReady = undefined;
      throw err;
    }
    this.lease = lease;
    return lease;
  }

  private onLeaseLost(lease: Lease, err: unknown): void {
    if (this.closed || this.lease !== lease) return;
    this.options.log.warn({ err: String(err) }, 'etcd lease lost: registering again under a new lease');
    this.lease = undefined;
    this.leaseReady = undefined;
    void this.reregister(lease);
  }

  private async reregister(old: Lease): Promise<void> {
    old.release();
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const lease = await this.currentLease();
        for (const registration of this.registrations.values()) await this.write(lease, registration);
        this.options.log.info({ count: this.registrations.size }, 'registrations restored');
        return;
      } catch (err) {
        this.options.log.warn({ err: String(err), attempt }, 'registering again failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  private async write(lease: Lease, { instance, card }: Registration): Promise<void> {
    // One transaction: watchers see the instance and its card in the same revision, so a model is
    // never listed without an instance behind it, and an instance never seen without its card (a
    // frontend that read the card right after the instance appeared would otherwise miss it).
    const leaseId = await lease.grant();
    const key = instanceKey(instance, instance.instanceId);
    const puts = [this.client.put(key).value(JSON.stringify(instance)).lease(leaseId)];
    if (card) {
      puts.push(
        this.client
          .put(modelCardKey(instance, instance.instanceId))
          .value(JSON.stringify(card))
          .lease(leaseId),
      );
    }
    await this.client
      .if(key, 'Version', '>', -1)
      .then(...puts)
      .commit();
  }

  private parseInstance(kv: IKeyValue): Instance | undefined {
    const key = kv.key.toString();
    const parsed = instanceSchema.safeParse(parseJson(kv.value));
    if (!parsed.success || instanceKey(parsed.data, parsed.data.instanceId) !== key) {
      this.malformed(key, parsed.success ? 'key does not match the instance' : parsed.error.message);
      return undefined;
    }
    return parsed.data;
  }

  private parseCard(kv: IKeyValue): { endpoint: EndpointId; card: ModelCard } | undefined {
    const key = kv.key.toString();
    const parts = key.slice(DISCOVERY_PREFIX.modelCards.length).split('/');
    const [namespace, component, endpoint, instance] = parts;
    if (
      parts.length !== 4 ||
      !namespace ||
      !component ||
      !endpoint ||
      !instance ||
      !parts.every((p) => NAME.test(p))
    ) {
      this.malformed(key, 'not a model card key');
      return undefined;
    }
    const parsed = modelCardSchema.safeParse(parseJson(kv.value));
    if (!parsed.success) {
      this.malformed(key, parsed.error.message);
      return undefined;
    }
    return { endpoint: { namespace, component, endpoint }, card: parsed.data };
  }

  private malformed(key: string, reason: string): void {
    this.options.metrics.malformedMessage('discovery');
    this.options.log.warn({ key, reason }, 'malformed discovery entry ignored');
  }
}

/** list → watch from the listed revision → after a reconnect, list again and deliver the difference. */
class PrefixWatch<T> {
  private readonly known = new Map<string, T>();
  private watcher: Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>> | undefined;
  private closed = false;
  private disconnected = false;
  private resyncing: Promise<void> | undefined;
  private queued: { kind: 'put' | 'delete'; kv: IKeyValue }[] | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly parse: (kv: IKeyValue) => T | undefined,
    private readonly same: (a: T, b: T) => boolean,
    private readonly deliver: (key: string, value: T, kind: 'put' | 'delete') => void,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const revision = await this.resync();
    const watcher = await this.client
      .watch()
      .prefix(this.prefix)
      .startRevision(String(revision + 1n))
      .create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('put', (kv) => this.onEvent('put', kv));
    watcher.on('delete', (kv) => this.onEvent('delete', kv));
    watcher.on('disconnected', () => {
      this.disconnected = true;
    });
    watcher.on('connected', () => {
      if (!this.disconnected) return;
      this.disconnected = false;
      this.log.info({ prefix: this.prefix }, 'etcd watch reconnected: resyncing');
      this.resyncing ??= this.resync()
        .then(() => undefined)
        .catch((err: unknown) => this.log.warn({ err: String(err) }, 'resync failed'))
        .finally(() => {
          this.resyncing = undefined;
        });
    });
    watcher.on('error', (err) =>
      this.log.warn({ err: String(err), prefix: this.prefix }, 'etcd watch error'),
    );
  }

  /** While a resync lists, events wait; those the listing already includes are dropped after it. */
  private onEvent(kind: 'put' | 'delete', kv: IKeyValue): void {
    if (this.queued) {
      this.queued.push({ kind, kv });
      return;
    }
    if (kind === 'put') this.put(kv.key.toString(), this.parse(kv));
    else this.remove(kv.key.toString());
  }

  close(): void {
    this.closed = true;
    this.watcher?.cancel().catch(() => undefined);
  }

  /** Lists the prefix and delivers what differs from what the watcher knows; returns the revision. */
  private async resync(): Promise<bigint> {
    this.queued = [];
    let res: Awaited<ReturnType<ReturnType<Etcd3['getAll']>['exec']>>;
    try {
      res = await this.client.getAll().prefix(this.prefix).exec();
    } catch (err) {
      this.flushQueued(-1n);
      throw err;
    }
    const fresh = new Map<string, T>();
    for (const kv of res.kvs) {
      const value = this.parse(kv);
      if (value !== undefined) fresh.set(kv.key.toString(), value);
    }
    for (const key of [...this.known.keys()]) if (!fresh.has(key)) this.remove(key);
    for (const [key, value] of fresh) this.put(key, value);
    const revision = BigInt(res.header.revision);
    this.flushQueued(revision);
    return revision;
  }

  private flushQueued(listedRevision: bigint): void {
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const { kind, kv } of queued) if (BigInt(kv.mod_revision) > listedRevision) this.onEvent(kind, kv);
  }

  private put(key: string, value: T | undefined): void {
    if (this.closed) return;
    if (value === undefined) {
      // An unparseable value replaced a known one: the entry is gone for us.
      this.remove(key);
      return;
    }
    const old = this.known.get(key);
    if (old !== undefined && this.same(old, value)) return;
    if (old !== undefined) this.deliver(key, old, 'delete');
    this.known.set(key, value);
    this.deliver(key, value, 'put');
  }

  private remove(key: string): void {
    if (this.closed) return;
    const old = this.known.get(key);
    if (old === undefined) return;
    this.known.delete(key);
    this.deliver(key, old, 'delete');
  }
}

function instancePrefix(scope: WatchScope): string {
  const base = `${DISCOVERY_PREFIX.instances}${scope.namespace}/${scope.component}/`;
  return 'endpoint' in scope ? `${base}${scope.endpoint}/` : base;
}

function parseJson(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
