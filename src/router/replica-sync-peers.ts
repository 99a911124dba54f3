// Replica sync, the pure part: what this router knows of its peers' active requests, and how a peer's
// message (already zod-validated, src/api/router-sync.ts) changes it. Each peer request is counted in
// the router's KvScheduler under `<peer router id>/<request id>`, so scoring sees the cluster's load.
// No I/O, no clock of its own: replica-sync.ts feeds it messages and the time.
//
// Self-healing: every peer has a lease (renewed by any message from it; expire() frees the requests of
// peers not heard from within it). A peer is "synced" once a full snapshot of it arrived; a gap in its
// sequence numbers, a heartbeat whose count or digest differs from our view, or meeting it for the
// first time asks it for a snapshot (at most once per `askIntervalMs` per peer).
import type { InstanceId, RouterSyncMessage, SyncedRequest } from '../api/index.js';
import { hashesFromHex, hashKey } from './block-hashes.js';

/** What the peers' requests are applied to: the router's scheduler and its instances. */
export interface SyncTarget {
  hasWorker(worker: InstanceId): boolean;
  add(key: string, worker: InstanceId, isl: number, seqKeys: readonly number[], overlapBlocks: number): void;
  prefillDone(key: string): void;
  free(key: string): void;
}

export const DROP_REASONS = [
  'malformed',
  'oversized',
  'own_router_id',
  'stale_seq',
  'unknown_worker',
  'unknown_request',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const SNAPSHOT_REASONS = ['start', 'new_peer', 'gap', 'digest', 'retry'] as const;
export type SnapshotReason = (typeof SNAPSHOT_REASONS)[number];

/** What applying one message asks of the caller, besides the drops it counted. */
export interface ApplyEffects {
  /** Entries (or whole messages) dropped, by reason. */
  dropped: DropReason[];
  /** Ask this peer for its snapshot. */
  askSnapshot?: { peer: InstanceId; reason: SnapshotReason };
  /** A peer asked for our snapshot. */
  sendSnapshot: boolean;
  /** Peers' load went down: queued requests may fit now. */
  freed: boolean;
}

interface PeerRequest {
  worker: InstanceId;
  prefilled: boolean;
}

interface Peer {
  lastHeardMs: number;
  /** The sequence number expected next. */
  nextSeq: number;
  requests: Map<string, PeerRequest>;
  /** XOR of idDigest over `requests`' ids. */
  digest: number;
  /** A full snapshot arrived since we met it or lost step with it. */
  synced: boolean;
  /** When we last asked it for a snapshot (-Infinity: never). */
  askedAtMs: number;
}

/** 32-bit FNV-1a of a request id: heartbeats carry the XOR of these over the active requests. */
export function idDigest(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function digestHex(digest: number): string {
  return (digest >>> 0).toString(16).padStart(8, '0');
}

export class PeerTable {
  private readonly peers = new Map<InstanceId, Peer>();

  constructor(
    /** This router's id: messages naming it are not a peer's. */
    private readonly self: InstanceId,
    private readonly target: SyncTarget,
    private readonly askIntervalMs: number,
  ) {}

  get size(): number {
    return this.peers.size;
  }

  /** Active requests of all peers, as we know them. */
  get requestCount(): number {
    let n = 0;
    for (const p of this.peers.values()) n += p.requests.size;
    return n;
  }

  /** A peer's view: its active request count and digest (tests, debugging). */
  view(peer: InstanceId): { active: number; digest: string; synced: boolean } | undefined {
    const p = this.peers.get(peer);
    return p && { active: p.requests.size, digest: digestHex(p.digest), synced: p.synced };
  }

  /** Applies a peer's message at time `now`. Messages of this router itself are the caller's to filter. */
  apply(msg: RouterSyncMessage, now: number): ApplyEffects {
    const effects: ApplyEffects = { dropped: [], sendSnapshot: false, freed: false };
    if (msg.router === this.self) {
      effects.dropped.push('own_router_id');
      return effects;
    }
    let peer = this.peers.get(msg.router);
    const isNew = peer === undefined;
    if (peer === undefined) {
      peer = {
        lastHeardMs: now,
        nextSeq: msg.seq,
        requests: new Map(),
        digest: 0,
        synced: false,
        askedAtMs: Number.NEGATIVE_INFINITY,
      };
      this.peers.set(msg.router, peer);
    }
    if (msg.seq < peer.nextSeq) {
      effects.dropped.push('stale_seq');
      return effects;
    }
    const gap = msg.seq > peer.nextSeq;
    peer.nextSeq = msg.seq + 1;
    peer.lastHeardMs = now;
    if (gap) peer.synced = false;

    switch (msg.kind) {
      case 'ops':
        for (const op of msg.ops) {
          if (op.op === 'added') this.addRequest(msg.router, peer, op.request, effects);
          else this.changeRequest(msg.router, peer, op.op, op.id, effects);
        }
        break;
      case 'snapshot':
        if (msg.part === 0) {
          effects.freed = this.clear(msg.router, peer) || effects.freed;
        } else if (gap || isNew) {
          // A later part without its beginning: wait for a whole snapshot.
          break;
        }
        for (const r of msg.requests) this.addRequest(msg.router, peer, r, effects);
        if (msg.last) peer.synced = true;
        break;
      case 'heartbeat':
        if (peer.synced && (msg.active !== peer.requests.size || msg.digest !== digestHex(peer.digest))) {
          peer.synced = false;
          this.ask(msg.router, peer, 'digest', now, effects);
        }
        break;
      case 'snapshot_request':
        if (msg.to === null || msg.to === this.self) effects.sendSnapshot = true;
        break;
      case 'bye':
        effects.freed = this.clear(msg.router, peer) || effects.freed;
        this.peers.delete(msg.router);
        return effects;
    }
    // A snapshot (in progress or just whole) needs no asking; anything else from a peer out of step does.
    if (!peer.synced && msg.kind !== 'snapshot' && effects.askSnapshot === undefined) {
      this.ask(msg.router, peer, isNew ? 'new_peer' : gap ? 'gap' : 'retry', now, effects);
    }
    return effects;
  }

  /** Frees the requests of peers not heard from within `leaseMs`; returns how many peers expired. */
  expire(now: number, leaseMs: number): number {
    let expired = 0;
    for (const [id, peer] of this.peers) {
      if (now - peer.lastHeardMs <= leaseMs) continue;
      this.clear(id, peer);
      this.peers.delete(id);
      expired++;
    }
    return expired;
  }

  /** Frees every peer's requests (this router stops syncing). */
  clearAll(): void {
    for (const [id, peer] of this.peers) this.clear(id, peer);
    this.peers.clear();
  }

  private ask(id: InstanceId, peer: Peer, reason: SnapshotReason, now: number, effects: ApplyEffects): void {
    if (now - peer.askedAtMs < this.askIntervalMs) return;
    peer.askedAtMs = now;
    effects.askSnapshot = { peer: id, reason };
  }

  private addRequest(peerId: InstanceId, peer: Peer, r: SyncedRequest, effects: ApplyEffects): void {
    if (!this.target.hasWorker(r.worker)) {
      effects.dropped.push('unknown_worker');
      return;
    }
    const key = `${peerId}/${r.id}`;
    const hashes = hashesFromHex(r.blocks);
    const seqKeys = new Array<number>(r.blocks.length);
    for (let i = 0; i < seqKeys.length; i++) seqKeys[i] = hashKey(hashes, i);
    this.target.add(key, r.worker, r.isl, seqKeys, r.overlap);
    if (r.prefilled) this.target.prefillDone(key);
    if (!peer.requests.has(r.id)) peer.digest ^= idDigest(r.id);
    peer.requests.set(r.id, { worker: r.worker, prefilled: r.prefilled === true });
  }

  private changeRequest(
    peerId: InstanceId,
    peer: Peer,
    op: 'prefilled' | 'freed',
    id: string,
    effects: ApplyEffects,
  ): void {
    const r = peer.requests.get(id);
    if (r === undefined) {
      // Out of step (just met, or a gap): an add we never saw, not a forgery; the snapshot settles it.
      if (peer.synced) effects.dropped.push('unknown_request');
      return;
    }
    const key = `${peerId}/${id}`;
    if (op === 'prefilled') {
      r.prefilled = true;
      this.target.prefillDone(key);
      return;
    }
    peer.requests.delete(id);
    peer.digest ^= idDigest(id);
    this.target.free(key);
    effects.freed = true;
  }

  private clear(peerId: InstanceId, peer: Peer): boolean {
    const had = peer.requests.size > 0;
    for (const id of peer.requests.keys()) this.target.free(`${peerId}/${id}`);
    peer.requests.clear();
    peer.digest = 0;
    return had;
  }
}
