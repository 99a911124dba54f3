// Router replica sync: the routers of several frontends (one per model and component each) share their
// active requests over the event plane, so that each one scores workers with the whole cluster's load,
// not only its own (src/api/router-sync.ts has the messages, replica-sync-peers.ts applies them).
//
//   Router.route/firstToken/complete ─▶ added/prefilled/freed ─▶ pending ops ─(setImmediate)─▶ publish
//   every lease/4: flush, heartbeat (count + digest), expire peers not heard within the lease
//   event plane ─▶ zod ─▶ drop & count | echo of ours ─▶ ignore | PeerTable.apply ─▶ KvScheduler
//                                                                   └─▶ ask / send snapshots
//
// Discovery of peers is the event plane itself: a router always heartbeats, and publishes its ops only
// while it hears a peer; a router that starts asks everyone for their snapshot, and one that meets a new
// peer asks for its. Delivery is at most once (NATS core): sequence gaps and digest mismatches ask for
// a snapshot, and a peer's lease bounds how long a lost `freed` (or a dead frontend) counts.

import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  type BlockHash,
  type InstanceId,
  newInstanceId,
  ROUTER_SYNC_LIMITS,
  type RouterSyncMessage,
  routerSyncMessageSchema,
  routerSyncSubject,
  type SyncedRequest,
  type SyncOp,
} from '../api/index.js';
import type { EventPlane, EventTopic, Subscription } from '../runtime/index.js';
import type { Logger } from '../runtime/logger.js';
import type { BlockHashes } from './block-hashes.js';
import { ReplicaSyncMetrics } from './replica-sync-metrics.js';
import {
  type DropReason,
  digestHex,
  idDigest,
  PeerTable,
  type SnapshotReason,
} from './replica-sync-peers.js';
import type { LifecycleListener, Router } from './router.js';

/** Validated here, not by the event plane, so that every drop is counted by reason. */
const ROUTER_SYNC: EventTopic<unknown> = {
  name: 'router_sync',
  schema: z.unknown(),
  subject: routerSyncSubject,
};

/** A snapshot part stays under this many bytes (NATS' default max_payload is 1 MiB). */
const SNAPSHOT_PART_BYTES = 256 * 1024;

interface OwnRequest {
  worker: InstanceId;
  isl: number;
  sequence: BlockHashes;
  overlap: number;
  prefilled: boolean;
}

type PendingOp = { op: 'added'; id: string; request: OwnRequest } | { op: 'prefilled' | 'freed'; id: string };

type Header = Pick<RouterSyncMessage, 'router' | 'model' | 'seq'>;

export interface ReplicaSyncOptions {
  /** A peer not heard from for this long has its requests freed; heartbeats go every lease/4. */
  leaseMs: number;
  now?: () => number;
  /** This router's id; random by default (a restarted router is a new peer). */
  id?: InstanceId;
}

export class ReplicaSync implements LifecycleListener {
  readonly id: InstanceId;
  readonly peers: PeerTable;
  private readonly own = new Map<string, OwnRequest>();
  private ownDigest = 0;
  private pending: PendingOp[] = [];
  private flushing: NodeJS.Immediate | undefined;
  /** The next sequence number to send. */
  private seq = 0;
  /** The lowest sequence number of ours whose echo (NATS delivers our own messages) is still due. */
  private echoNext = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Snapshots go at most once per lease/8: one broadcast answers every peer that asked meanwhile. */
  private lastSnapshotAt = Number.NEGATIVE_INFINITY;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private subscription: Subscription | undefined;
  private readonly metrics: ReplicaSyncMetrics | undefined;
  private readonly untrack: (() => void) | undefined;
  private readonly warned = new Set<DropReason>();
  private readonly now: () => number;
  private closed = false;

  constructor(
    private readonly router: Router,
    private readonly eventPlane: Pick<EventPlane, 'publish' | 'subscribe'>,
    private readonly options: ReplicaSyncOptions,
    private readonly log: Logger,
    registry?: Registry,
  ) {
    this.id = options.id ?? newInstanceId();
    this.now = options.now ?? Date.now;
    this.peers = new PeerTable(
      this.id,
      {
        hasWorker: (w) => router.hasInstance(w),
        add: (key, worker, isl, seqKeys, overlap) =>
          router.scheduler.add(key, worker, { isl, seqKeys }, overlap),
        prefillDone: (key) => router.scheduler.prefillDone(key),
        free: (key) => router.scheduler.free(key),
      },
      this.heartbeatMs / 2,
    );
    this.metrics = registry ? ReplicaSyncMetrics.for(registry) : undefined;
    const peers = this.peers;
    this.untrack = this.metrics?.track(router.model.name, {
      get peerCount() {
        return peers.size;
      },
      get peerRequestCount() {
        return peers.requestCount;
      },
    });
  }

  get heartbeatMs(): number {
    return Math.max(1, Math.floor(this.options.leaseMs / 4));
  }

  private get scope() {
    const { namespace, component } = this.router.model.endpoint;
    return { namespace, component };
  }

  async start(): Promise<void> {
    this.subscription = await this.eventPlane.subscribe(ROUTER_SYNC, this.scope, (m) => this.receive(m));
    this.askSnapshot(null, 'start');
    this.heartbeat();
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Says goodbye (peers free our requests at once), stops listening, forgets the peers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.snapshotTimer);
    this.flush();
    this.send({ kind: 'bye', ...this.header() });
    this.subscription?.close();
    this.peers.clearAll();
    this.untrack?.();
  }

  // ---- our own requests (LifecycleListener) -----------------------------------------------------

  added(requestId: string, worker: InstanceId, isl: number, sequence: BlockHashes, overlap: number): void {
    const request: OwnRequest = { worker, isl, sequence, overlap, prefilled: false };
    if (!this.own.has(requestId)) this.ownDigest ^= idDigest(requestId);
    this.own.set(requestId, request);
    this.queue({ op: 'added', id: requestId, request });
  }

  prefilled(requestId: string): void {
    const r = this.own.get(requestId);
    if (r === undefined || r.prefilled) return;
    r.prefilled = true;
    this.queue({ op: 'prefilled', id: requestId });
  }

  freed(requestId: string): void {
    if (!this.own.delete(requestId)) return;
    this.ownDigest ^= idDigest(requestId);
    this.queue({ op: 'freed', id: requestId });
  }

  /** Alone, ops go nowhere: a peer that appears asks for our snapshot. */
  private queue(op: PendingOp): void {
    if (this.closed || this.peers.size === 0) return;
    this.pending.push(op);
    this.flushing ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.flushing !== undefined) clearImmediate(this.flushing);
    this.flushing = undefined;
    const pending = this.pending;
    if (pending.length === 0) return;
    this.pending = [];
    for (let i = 0; i < pending.length; i += ROUTER_SYNC_LIMITS.maxEntries) {
      const ops = pending
        .slice(i, i + ROUTER_SYNC_LIMITS.maxEntries)
        .map((p): SyncOp => (p.op === 'added' ? { op: 'added', request: wire(p.id, p.request) } : p));
      this.send({ kind: 'ops', ...this.header(), ops });
    }
  }

  // ---- timers and snapshots ---------------------------------------------------------------------

  private tick(): void {
    this.heartbeat();
    const expired = this.peers.expire(this.now(), this.options.leaseMs);
    if (expired > 0) {
      this.metrics?.expiredPeers.labels(this.router.model.name).inc(expired);
      this.log.info(
        { expired, leaseMs: this.options.leaseMs },
        'replica sync: peers expired, their requests freed',
      );
      this.router.peerLoadChanged();
    }
  }

  private heartbeat(): void {
    this.flush();
    this.send({
      kind: 'heartbeat',
      ...this.header(),
      active: this.own.size,
      digest: digestHex(this.ownDigest),
    });
  }

  private askSnapshot(peer: InstanceId | null, reason: SnapshotReason): void {
    this.metrics?.askedSnapshot(this.router.model.name, reason);
    this.send({ kind: 'snapshot_request', ...this.header(), to: peer });
  }

  private snapshotSoon(): void {
    if (this.snapshotTimer !== undefined) return;
    const wait = this.lastSnapshotAt + this.heartbeatMs / 2 - this.now();
    if (wait <= 0) {
      this.sendSnapshot();
      return;
    }
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      if (!this.closed) this.sendSnapshot();
    }, wait);
    this.snapshotTimer.unref();
  }

  /** Every active request of ours, after the ops still pending (so that ops and snapshot agree). */
  private sendSnapshot(): void {
    this.lastSnapshotAt = this.now();
    this.flush();
    let part = 0;
    let requests: SyncedRequest[] = [];
    let bytes = 0;
    const sendPart = (last: boolean) => {
      this.send({ kind: 'snapshot', ...this.header(), part: part++, last, requests });
      requests = [];
      bytes = 0;
    };
    for (const [id, r] of this.own) {
      const size = 160 + id.length + 19 * (r.sequence.length >>> 1);
      if (
        requests.length > 0 &&
        (requests.length >= ROUTER_SYNC_LIMITS.maxEntries || bytes + size > SNAPSHOT_PART_BYTES)
      )
        sendPart(false);
      requests.push({ ...wire(id, r), ...(r.prefilled ? { prefilled: true } : {}) });
      bytes += size;
    }
    sendPart(true);
  }

  // ---- the wire ---------------------------------------------------------------------------------

  private header(): Header {
    return { router: this.id, model: this.router.model.name, seq: this.seq++ };
  }

  private send(msg: RouterSyncMessage): void {
    this.eventPlane.publish(ROUTER_SYNC, this.scope, msg);
    this.metrics?.messages.labels(this.router.model.name, 'sent').inc();
  }

  private receive(raw: unknown): void {
    if (this.closed) return;
    // Our own messages come back (NATS echoes them): skipped before the costly parse.
    const own = raw as { router?: unknown; seq?: unknown } | null;
    if (
      typeof own === 'object' &&
      own?.router === this.id &&
      typeof own.seq === 'number' &&
      this.isEcho(own.seq)
    )
      return;
    const model = this.router.model.name;
    const parsed = routerSyncMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const oversized = parsed.error.issues.some((i) => i.code === 'too_big');
      this.drop(oversized ? 'oversized' : 'malformed', parsed.error.issues[0]?.message);
      return;
    }
    const msg = parsed.data;
    // Routers of the component's other models share the subject.
    if (msg.model !== model) return;
    this.metrics?.messages.labels(model, 'received').inc();
    const effects = this.peers.apply(msg, this.now());
    for (const reason of effects.dropped) this.drop(reason, `from router ${msg.router}`);
    if (effects.askSnapshot) this.askSnapshot(effects.askSnapshot.peer, effects.askSnapshot.reason);
    if (effects.sendSnapshot) this.snapshotSoon();
    if (effects.freed) this.router.peerLoadChanged();
  }

  /**
   * Our own messages come back in order; one naming our id with a number we did not send (or sent
   * and saw echoed already) is forged.
   */
  private isEcho(seq: number): boolean {
    if (seq < this.echoNext || seq >= this.seq) return false;
    this.echoNext = seq + 1;
    return true;
  }

  private drop(reason: DropReason, detail: string | undefined): void {
    this.metrics?.drop(this.router.model.name, reason);
    // Counted every time, logged at warn once per reason (a flood must not flood the log too).
    const level = this.warned.has(reason) ? 'debug' : 'warn';
    this.warned.add(reason);
    this.log[level]({ reason, detail }, 'replica sync: message dropped');
  }
}

/** Byte → two hex digits: encoding a request's hashes is most of the sender's cost (3× toString's speed). */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hexWord = (w: number) =>
  (HEX_BYTE[w >>> 24] as string) +
  (HEX_BYTE[(w >>> 16) & 255] as string) +
  (HEX_BYTE[(w >>> 8) & 255] as string) +
  (HEX_BYTE[w & 255] as string);

/** The wire form of hashes kept as [lo, hi] int32 halves (block-hashes.ts). */
function hashesToHex(hashes: BlockHashes): BlockHash[] {
  const out = new Array<BlockHash>(hashes.length >>> 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = (hexWord(hashes[2 * i + 1] as number) + hexWord(hashes[2 * i] as number)) as BlockHash;
  }
  return out;
}

function wire(id: string, r: OwnRequest): SyncedRequest {
  const blocks = hashesToHex(r.sequence);
  return { id, worker: r.worker, isl: r.isl, blocks, overlap: r.overlap };
}
