// The endpoints of one InferencePool (Gateway API Inference Extension, inference.networking.k8s.io/v1):
// the Ready pods of the pool's namespace that match its selector, each at its pod IP and the pool's first
// target port. Two informers (the pool, the namespace's pods) keep it current; a pod that leaves the
// selector, stops being Ready or is deleted is gone from the next pick on.
import { z } from 'zod';
import type { KubeClient } from '../operator/kube/client.js';
import { Informer } from '../operator/kube/informer.js';
import { type KubeObject, RT } from '../operator/kube/types.js';
import { INFERENCE_POOL_RT } from '../operator/reconcilers/resource-types.js';
import type { Logger } from '../runtime/logger.js';

/** The fields of an InferencePool the EPP reads (the vendored CRD validates the rest). */
export const inferencePoolSpecSchema = z.looseObject({
  selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()) }),
  targetPorts: z.array(z.looseObject({ number: z.number().int().min(1).max(65535) })).min(1),
});
export type InferencePoolSpec = z.infer<typeof inferencePoolSpecSchema>;

const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    labels: z.record(z.string(), z.string()).optional(),
    deletionTimestamp: z.string().optional(),
  }),
  status: z
    .looseObject({
      podIP: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
    })
    .optional(),
});

export interface PoolEndpoint {
  pod: string;
  ip: string;
  port: number;
  /** `ip:port`, as the protocol's x-gateway-destination-endpoint carries it. */
  address: string;
}

/** The pool's endpoints among `pods`, by pod IP: Ready, not terminating, labels matching the selector. */
export function poolEndpoints(spec: InferencePoolSpec, pods: readonly unknown[]): Map<string, PoolEndpoint> {
  const port = (spec.targetPorts[0] as { number: number }).number;
  const out = new Map<string, PoolEndpoint>();
  for (const raw of pods) {
    const parsed = podSchema.safeParse(raw);
    if (!parsed.success) continue;
    const { metadata, status } = parsed.data;
    const ip = status?.podIP;
    if (ip === undefined || ip === '' || metadata.deletionTimestamp !== undefined) continue;
    if (!status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const labels = metadata.labels ?? {};
    if (!Object.entries(spec.selector.matchLabels).every(([k, v]) => labels[k] === v)) continue;
    const address = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
    out.set(ip, { pod: metadata.name, ip, port, address });
  }
  return out;
}

export interface PoolWatchOptions {
  namespace: string;
  name: string;
  log: Logger;
  /** Called after every change of the pool's endpoints (and once synced). */
  onChange?: (endpoints: ReadonlyMap<string, PoolEndpoint>) => void;
}

export class PoolWatch {
  private readonly pools: Informer;
  private readonly pods: Informer;
  private current: ReadonlyMap<string, PoolEndpoint> = new Map();
  /** Why the pool has no endpoints, when it has none for a reason other than no Ready pod. */
  problem: string | undefined = 'not synced yet';

  constructor(
    client: KubeClient,
    private readonly options: PoolWatchOptions,
  ) {
    const common = { namespace: options.namespace, log: options.log, resyncMs: 0 };
    this.pools = new Informer(client, INFERENCE_POOL_RT, common);
    this.pods = new Informer(client, RT.pod, common);
    this.pools.on(() => this.recompute());
    this.pods.on(() => this.recompute());
  }

  /** Runs both informers until the signal (they retry on their own while the API server is away). */
  start(signal: AbortSignal): void {
    void this.pools.start(signal);
    void this.pods.start(signal);
    this.synced = Promise.all([this.pools.synced, this.pods.synced]).then(() => {
      this.isSynced = true;
      this.recompute();
    });
  }

  /** Resolves once both informers listed (never, while the InferencePool CRD is missing). */
  synced: Promise<void> = new Promise(() => {});
  isSynced = false;

  /** Ready endpoints by pod IP. */
  endpoints(): ReadonlyMap<string, PoolEndpoint> {
    return this.current;
  }

  private recompute(): void {
    const pool: KubeObject | undefined = this.pools.list().find((p) => p.metadata.name === this.options.name);
    let next: Map<string, PoolEndpoint> = new Map();
    if (pool === undefined)
      this.problem = `InferencePool ${this.options.namespace}/${this.options.name} not found`;
    else {
      const spec = inferencePoolSpecSchema.safeParse(pool.spec);
      if (!spec.success) {
        const issue = spec.error.issues[0];
        this.problem = `InferencePool ${this.options.name}: spec.${issue?.path.join('.')}: ${issue?.message}`;
      } else {
        this.problem = undefined;
        next = poolEndpoints(spec.data, this.pods.list());
      }
    }
    if (!sameEndpoints(this.current, next)) {
      this.current = next;
      this.options.log.info(
        { pool: this.options.name, endpoints: [...next.values()].map((e) => `${e.pod}=${e.address}`) },
        'pool endpoints changed',
      );
    }
    this.options.onChange?.(this.current);
  }
}

function sameEndpoints(a: ReadonlyMap<string, PoolEndpoint>, b: ReadonlyMap<string, PoolEndpoint>): boolean {
  if (a.size !== b.size) return false;
  for (const [ip, e] of a) {
    const o = b.get(ip);
    if (o === undefined || o.address !== e.address || o.pod !== e.pod) return false;
  }
  return true;
}
