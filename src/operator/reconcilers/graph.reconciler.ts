// DynamoGraphDeployment → one DCD per service, a scaling adapter per service that enables one, the
// PVCs it asks to create, a ServiceAccount + Role + RoleBinding per planner service, an InferencePool per
// epp service and the graph's worker-hint Secret (desired/epp.ts); status aggregated
// from its DCDs. Deletion: the finalizer holds the graph
// until the operator has deleted its children itself (a cluster's garbage collector would also follow
// the ownerReferences, but the operator does not rely on one running).
import { type DgdStatus, type DynamoGraphDeployment, dynamoGraphDeployment } from '../../api/k8s/index.js';
import type { ReconcileResult, Reconciler } from '../controller.js';
import { TerminalError } from '../controller.js';
import { desiredInferencePools, desiredWorkerHintSecret } from '../desired/epp.js';
import {
  desiredAdapters,
  desiredComponents,
  desiredPlannerRbac,
  desiredPvcs,
  ownerRef,
} from '../desired/graph.js';
import { jsonEqual, readyCondition, setCondition } from '../desired/status.js';
import type { EventRecorder } from '../events.js';
import { isNotFound, type KubeClient } from '../kube/client.js';
import { type Informer, OWNER_INDEX } from '../kube/informer.js';
import { type KubeObject, keyOf, type ObjectKey, type ResourceType, RT } from '../kube/types.js';
import { LABEL } from '../naming.js';
import { AdmissionDenied } from '../webhooks/admission.js';
import { DgdValidator } from '../webhooks/dgd.validator.js';
import { applyChild, ownedBy } from './apply.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from './finalizers.js';
import { ADAPTER_RT, DCD_RT, DGD_RT, INFERENCE_POOL_RT } from './resource-types.js';

export interface GraphReconcilerDeps {
  client: KubeClient;
  graphs: Informer;
  components: Informer;
  adapters: Informer;
  pvcs: Informer;
  /** The planners' accounts and rights (managed-by label), one informer per kind. */
  serviceAccounts: Informer;
  roles: Informer;
  roleBindings: Informer;
  events: EventRecorder;
}

const isReady = (o: KubeObject | undefined): boolean =>
  ((o?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );

export class GraphReconciler implements Reconciler {
  /**
   * Graphs (by uid) whose worker-hint Secret this process created or found: the operator neither reads
   * nor watches Secrets (RBAC: create only), so it remembers, and tries once per graph after a restart.
   */
  private readonly hintSecrets = new Set<string>();

  constructor(private readonly deps: GraphReconcilerDeps) {}

  /** Each RBAC kind a planner gets, with its informer. */
  private rbacKinds(): [string, ResourceType, Informer][] {
    return [
      ['ServiceAccount', RT.serviceAccount, this.deps.serviceAccounts],
      ['Role', RT.role, this.deps.roles],
      ['RoleBinding', RT.roleBinding, this.deps.roleBindings],
    ];
  }

  /** What this graph controls (an index lookup by its uid) and still labels as its own. */
  private children(dgd: KubeObject, informer: Informer): KubeObject[] {
    const uid = dgd.metadata.uid;
    if (uid === undefined) return [];
    return informer
      .byIndex(OWNER_INDEX, uid)
      .filter((o) => o.metadata.labels?.[LABEL.graph] === dgd.metadata.name && ownedBy(o, uid));
  }

  async reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, graphs, components, adapters, pvcs, events } = this.deps;
    const obj = graphs.get(key);
    if (!obj) return {};
    const call = { signal };
    if (obj.metadata.deletionTimestamp) return this.finalize(obj, signal);

    // The webhook's rules again: a graph stored while the webhooks were off (or before they were
    // installed) must fail visibly in its status, not in endless retries against the API server.
    let dgd: DynamoGraphDeployment;
    try {
      new DgdValidator().validateCreate(obj);
      dgd = dynamoGraphDeployment.parse(obj);
    } catch (err) {
      const message = err instanceof AdmissionDenied ? err.message : (err as Error).message;
      await this.writeStatus(obj, { state: 'failed', ready: false, reason: 'InvalidSpec', message }, signal);
      throw new TerminalError(`${key}: ${message}`);
    }
    // No return after it: the rest needs nothing that the write changes.
    await addFinalizer(client, DGD_RT, obj, call);

    const desiredDcds = desiredComponents(dgd);
    let created = 0;
    for (const pvc of desiredPvcs(dgd)) {
      if (!pvcs.get(keyOf(pvc))) {
        await client.apply(RT.pvc, pvc, call);
        created++;
      }
    }
    // A planner's account and rights before its DCD: its pod names the ServiceAccount.
    const rbac = desiredPlannerRbac(dgd);
    for (const [kind, rt, informer] of this.rbacKinds()) {
      const wanted = rbac.filter((o) => o.kind === kind);
      await Promise.all(wanted.map((o) => applyChild(client, rt, o, informer.get(keyOf(o)), call)));
      const names = new Set(wanted.map((o) => o.metadata.name));
      for (const stale of this.children(obj, informer).filter((o) => !names.has(o.metadata.name))) {
        await client.delete(rt, stale.metadata.namespace, stale.metadata.name, call);
      }
    }
    // An epp's InferencePool: without the Inference Extension's CRD there is none to make (an event says
    // so; the picker then reports NOT_SERVING), the rest of the graph still runs.
    for (const pool of desiredInferencePools(dgd, [ownerRef(dgd)])) {
      await client.apply(INFERENCE_POOL_RT, pool, call).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
        events.record(obj, 'Warning', 'NoInferencePoolCrd', 'the InferencePool CRD is not installed', call);
      });
    }
    // The secret the picker and the frontends share, before their pods mount it. Created once and never
    // applied again: a new value would split the running pickers from the running frontends.
    const hintSecret = desiredWorkerHintSecret(dgd, [ownerRef(dgd)]);
    const uid = obj.metadata.uid ?? '';
    if (hintSecret !== undefined && !this.hintSecrets.has(uid)) {
      await client.create(RT.secret, hintSecret, call).catch((err: unknown) => {
        if ((err as { status?: number }).status !== 409) throw err;
      });
      this.hintSecrets.add(uid);
    }
    const applied = await Promise.all(
      desiredDcds.map((d) => applyChild(client, DCD_RT, d, components.get(keyOf(d)), call)),
    );
    created += applied.filter((a) => a !== undefined).length;
    const wantedAdapters = desiredAdapters(dgd);
    for (const adapter of wantedAdapters) {
      if (adapters.get(keyOf(adapter))) continue;
      // Created once: from then on its spec.replicas belongs to whoever scales it (HPA, KEDA, a user).
      await client.create(ADAPTER_RT, adapter, call).catch((err: unknown) => {
        if ((err as { status?: number }).status !== 409) throw err;
      });
      created++;
    }
    // Children that the spec no longer asks for.
    const dcdNames = new Set(desiredDcds.map((d) => d.metadata.name));
    for (const stale of this.children(obj, components).filter((c) => !dcdNames.has(c.metadata.name))) {
      await client.delete(DCD_RT, stale.metadata.namespace, stale.metadata.name, call);
    }
    const adapterNames = new Set(wantedAdapters.map((a) => a.metadata.name));
    for (const stale of this.children(obj, adapters).filter((a) => !adapterNames.has(a.metadata.name))) {
      await client.delete(ADAPTER_RT, stale.metadata.namespace, stale.metadata.name, call);
    }

    // Status from the DCDs as the cache has them.
    const services: NonNullable<DgdStatus['services']> = {};
    const notReady: string[] = [];
    let allCurrent = true;
    for (const [name, dcd] of desiredDcds.map(
      (d) => [d.spec as { serviceName: string }, components.get(keyOf(d))] as const,
    )) {
      const st = (dcd?.status ?? {}) as {
        service?: NonNullable<DgdStatus['services']>[string];
        observedGeneration?: number;
      };
      if (st.service) services[name.serviceName] = st.service;
      const current = dcd !== undefined && (st.observedGeneration ?? -1) >= (dcd.metadata.generation ?? 0);
      allCurrent &&= current;
      if (!current || !isReady(dcd)) notReady.push(name.serviceName);
    }
    const ready = notReady.length === 0;
    // Pending already written for this generation and a DCD not yet reconciled: its status write
    // requeues this graph, so the intermediate pending → pending write (services filling in one by
    // one) is left out — one status write per graph fewer at creation, the API server's busiest time.
    const prev = (obj.status ?? {}) as DgdStatus;
    if (!allCurrent && prev.state === 'pending' && prev.observedGeneration === obj.metadata.generation) {
      return {};
    }
    const message = ready
      ? `all ${desiredDcds.length} services ready`
      : `services not ready: ${notReady.sort().join(', ')}`;
    if (created > 0 && !obj.status) {
      events.record(obj, 'Normal', 'Created', `created ${desiredDcds.length} components`, call);
    }
    await this.writeStatus(
      obj,
      {
        state: ready ? 'successful' : 'pending',
        ready,
        reason: ready ? 'AllServicesReady' : 'ServicesNotReady',
        message,
        services,
      },
      signal,
    );
    return {};
  }

  private async writeStatus(
    obj: KubeObject,
    s: {
      state: 'pending' | 'successful' | 'failed';
      ready: boolean;
      reason: string;
      message: string;
      services?: NonNullable<DgdStatus['services']>;
    },
    signal: AbortSignal,
  ): Promise<void> {
    const prev = (obj.status ?? {}) as DgdStatus;
    const generation = obj.metadata.generation;
    const status: DgdStatus = {
      observedGeneration: generation,
      state: s.state,
      conditions: setCondition(
        prev.conditions,
        readyCondition(s.ready, s.reason, s.message, generation),
        new Date().toISOString(),
      ),
      ...(s.services ? { services: s.services } : {}),
    };
    if (jsonEqual(prev, status)) return;
    const wasReady = isReady(obj);
    await this.deps.client.mergePatch(
      DGD_RT,
      obj.metadata.namespace,
      obj.metadata.name,
      { status },
      'status',
      { signal },
    );
    if (s.ready !== wasReady || (s.state === 'failed' && prev.state !== 'failed')) {
      this.deps.events.record(obj, s.ready ? 'Normal' : 'Warning', s.reason, s.message, { signal });
    }
  }

  private async finalize(obj: KubeObject, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, components, adapters, pvcs, events } = this.deps;
    if (!hasFinalizer(obj)) return {};
    const left = [
      ...this.children(obj, components).map((o) => [DCD_RT, o] as const),
      ...this.children(obj, adapters).map((o) => [ADAPTER_RT, o] as const),
      ...this.children(obj, pvcs).map((o) => [RT.pvc, o] as const),
      ...this.rbacKinds().flatMap(([, rt, informer]) =>
        this.children(obj, informer).map((o) => [rt, o] as const),
      ),
    ];
    for (const [rt, child] of left) {
      if (!child.metadata.deletionTimestamp)
        await client.delete(rt, child.metadata.namespace, child.metadata.name, { signal });
    }
    if (left.length > 0) return { requeueAfterMs: 1_000 }; // their deletion events come back sooner
    // Its worker-hint Secret goes with the graph through the garbage collector (ownerReferences).
    this.hintSecrets.delete(obj.metadata.uid ?? '');
    await removeFinalizer(client, DGD_RT, obj, { signal });
    events.record(obj, 'Normal', 'Deleted', 'all components removed', { signal });
    return {};
  }
}
