// Replica sync's Prometheus metrics (`dynamo_router_replica_sync_*`), labelled by model; one set per
// registry, as RouterMetrics. Peer counts are read from the live syncs when the registry is scraped.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DropReason, SnapshotReason } from './replica-sync-peers.js';

/** What a sync shows the scrape. */
export interface TrackedSync {
  readonly peerCount: number;
  readonly peerRequestCount: number;
}

export class ReplicaSyncMetrics {
  private static readonly byRegistry = new WeakMap<Registry, ReplicaSyncMetrics>();

  /** Messages (or entries of one) dropped unapplied: malformed, oversized, forged, out of step. */
  readonly dropped: Counter<'model' | 'reason'>;
  readonly snapshotsRequested: Counter<'model' | 'reason'>;
  /** Peers whose lease ran out: their requests were freed. */
  readonly expiredPeers: Counter<'model'>;
  readonly messages: Counter<'model' | 'direction'>;
  private readonly tracked = new Map<string, Set<TrackedSync>>();

  static for(registry: Registry): ReplicaSyncMetrics {
    let metrics = ReplicaSyncMetrics.byRegistry.get(registry);
    if (metrics === undefined) {
      metrics = new ReplicaSyncMetrics(registry);
      ReplicaSyncMetrics.byRegistry.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    const registers = [registry];
    this.dropped = new Counter({
      name: 'dynamo_router_replica_sync_dropped_total',
      help: "Peers' replica-sync messages or entries dropped unapplied (reason: malformed, oversized, own_router_id, stale_seq, unknown_worker, unknown_request)",
      labelNames: ['model', 'reason'],
      registers,
    });
    this.snapshotsRequested = new Counter({
      name: 'dynamo_router_replica_sync_snapshots_requested_total',
      help: "Snapshots of peers' active requests asked for (reason: start, new_peer, gap, digest, retry)",
      labelNames: ['model', 'reason'],
      registers,
    });
    this.expiredPeers = new Counter({
      name: 'dynamo_router_replica_sync_expired_peers_total',
      help: 'Peer routers not heard from within the lease: their requests were freed',
      labelNames: ['model'],
      registers,
    });
    this.messages = new Counter({
      name: 'dynamo_router_replica_sync_messages_total',
      help: 'Replica-sync messages sent and received (direction: sent, received)',
      labelNames: ['model', 'direction'],
      registers,
    });
    const tracked = this.tracked;
    const sum = (model: string, f: (s: TrackedSync) => number) => {
      let n = 0;
      for (const s of tracked.get(model) ?? []) n += f(s);
      return n;
    };
    new Gauge({
      name: 'dynamo_router_replica_sync_peers',
      help: 'Peer routers (other frontends) this frontend hears from',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const model of tracked.keys()) this.labels(model).set(sum(model, (s) => s.peerCount));
      },
    });
    new Gauge({
      name: 'dynamo_router_replica_sync_peer_requests',
      help: "Peers' active requests counted in this frontend's routing",
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const model of tracked.keys()) this.labels(model).set(sum(model, (s) => s.peerRequestCount));
      },
    });
  }

  drop(model: string, reason: DropReason): void {
    this.dropped.labels(model, reason).inc();
  }

  askedSnapshot(model: string, reason: SnapshotReason): void {
    this.snapshotsRequested.labels(model, reason).inc();
  }

  /** Reports a sync's peers at every scrape until the returned function is called. */
  track(model: string, sync: TrackedSync): () => void {
    let set = this.tracked.get(model);
    if (set === undefined) {
      set = new Set();
      this.tracked.set(model, set);
    }
    set.add(sync);
    return () => {
      const s = this.tracked.get(model);
      if (s?.delete(sync) && s.size === 0) this.tracked.delete(model);
    };
  }
}
