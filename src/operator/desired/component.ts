// DCD → Deployment + Service (+ Ingress), as pure functions (unit-tested). The pod gets the runtime's
// env (DESIGN §5: DYN_NAMESPACE, DYN_COMPONENT, ETCD_ENDPOINTS, NATS_SERVER, POD_NAME, POD_NAMESPACE),
// Dynamo's default port and probes for its kind, the component's resources, volumes and shared memory.
// A worker also gets its role and KV data plane (DESIGN §12: DYN_DISAGGREGATION_MODE, POD_IP,
// DYN_KV_DATA_PLANE_PORT); a planner its graph, Prometheus and its own ServiceAccount (DESIGN §13, §14).
// Every pod is locked down as pod-security.ts says (DESIGN §14).
import {
  componentTypeOf,
  type DynamoComponentDeployment,
  type EnvVar,
  type Probe,
  type Resources,
  workerRole,
} from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';
import {
  dynamoComponent,
  EPP_PORTS,
  eppPoolName,
  KV_DATA_PORT,
  LABEL,
  MANAGED_BY,
  modelHash,
  plannerAccountName,
  portOf,
} from '../naming.js';
import { mergeEnv } from './env.js';
import { dcdDynamoNamespace, ownerRef, serviceNameOf } from './graph.js';
import { containerSecurityContext, podSecurityContext, securityVolumes } from './pod-security.js';

export interface WorkloadOptions {
  /** Image of components that name none (`--default-image`). */
  defaultImage?: string;
  etcdEndpoints?: string;
  natsServer?: string;
  /** PROMETHEUS_ENDPOINT given to planners (`--prometheus-endpoint`), where they read the load. */
  prometheusEndpoint?: string;
  /** Secret of NATS/etcd credentials mounted into every graph pod (`--runtime-secret`, DESIGN §14). */
  runtimeSecret?: string;
}

/** A component that cannot be made into a pod; retrying cannot help until its spec changes. */
export class InvalidComponentError extends Error {
  override name = 'InvalidComponentError';
}

const COMPILATION_CACHE_MOUNT = '/root/.cache';

function resourceList(item: Resources['requests']): Record<string, string> | undefined {
  if (!item) return undefined;
  const out: Record<string, string> = {};
  if (item.cpu !== undefined) out.cpu = String(item.cpu);
  if (item.memory !== undefined) out.memory = String(item.memory);
  if (item.gpu !== undefined) out[item.gpuType ?? 'nvidia.com/gpu'] = String(item.gpu);
  for (const [name, q] of Object.entries(item.custom ?? {})) out[name] = String(q);
  return Object.keys(out).length > 0 ? out : undefined;
}

const graphOf = (dcd: DynamoComponentDeployment): string | undefined => dcd.metadata.labels?.[LABEL.graph];

export function selectorLabels(dcd: DynamoComponentDeployment): Record<string, string> {
  return { [LABEL.selector]: dcd.metadata.name ?? '' };
}

export function componentLabels(dcd: DynamoComponentDeployment): Record<string, string> {
  const name = dcd.metadata.name ?? '';
  const graph = dcd.metadata.labels?.[LABEL.graph];
  const role = workerRole(dcd.spec);
  return {
    [LABEL.managedBy]: MANAGED_BY,
    [LABEL.component]: name,
    [LABEL.componentType]: componentTypeOf(dcd.spec),
    // Dynamo's label, for either spelling of the role (componentType or subComponentType), so one
    // selector finds all prefill (or decode) pods.
    ...(role === 'prefill' || role === 'decode' ? { [LABEL.subComponentType]: role } : {}),
    [LABEL.namespace]: dcdDynamoNamespace(dcd),
    ...(graph ? { [LABEL.graph]: graph } : {}),
  };
}

/**
 * A worker's role and KV data plane (DESIGN §12). Its blocks are pulled worker to worker at the pod's
 * own IP (advertised in its discovery record), never through a Service: a Service would balance a pull
 * onto a pod that does not hold the blocks. The port is fixed so the container can declare it.
 */
export function workerEnv(dcd: DynamoComponentDeployment): EnvVar[] {
  const role = workerRole(dcd.spec);
  if (role === undefined) return [];
  return [
    { name: 'DYN_DISAGGREGATION_MODE', value: role },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'DYN_KV_DATA_PLANE_PORT', value: String(KV_DATA_PORT.port) },
  ];
}

/**
 * The container's ports: Dynamo's one for its kind, and the KV data plane of workers that serve blocks,
 * on the port the process will listen on (`env`, the merged list: a service may set its own).
 */
export function containerPorts(
  dcd: DynamoComponentDeployment,
  env: readonly EnvVar[],
): { name: string; containerPort: number; protocol: 'TCP' }[] {
  const port = portOf(componentTypeOf(dcd.spec));
  if (dcd.spec.componentType === 'epp') {
    return [port, EPP_PORTS.health, EPP_PORTS.metrics].map((p) => ({
      name: p.name,
      containerPort: p.port,
      protocol: 'TCP' as const,
    }));
  }
  const role = workerRole(dcd.spec);
  // Declared where blocks are served: prefill and agg workers. A decode worker only pulls (it still gets
  // DYN_KV_DATA_PLANE_PORT: whether to listen is the worker's decision, not the pod's).
  const servesKv = role === 'prefill' || role === 'agg';
  const set = Number(env.find((e) => e.name === 'DYN_KV_DATA_PLANE_PORT')?.value);
  const kvPort = Number.isInteger(set) && set >= 1 && set <= 65535 ? set : KV_DATA_PORT.port;
  return [
    { name: port.name, containerPort: port.port, protocol: 'TCP' },
    ...(servesKv ? [{ name: KV_DATA_PORT.name, containerPort: kvPort, protocol: 'TCP' as const }] : []),
  ];
}

/**
 * A planner's graph (DYN_PARENT_DGD_K8S_NAME, Dynamo's name: the connector reads and scales that DGD)
 * and Prometheus. Only for a DCD of a graph: one made by hand has no graph, and no ServiceAccount.
 */
export function plannerEnv(dcd: DynamoComponentDeployment, options: WorkloadOptions): EnvVar[] {
  if (dcd.spec.componentType !== 'planner') return [];
  const graph = dcd.metadata.labels?.[LABEL.graph];
  return [
    ...(graph ? [{ name: 'DYN_PARENT_DGD_K8S_NAME', value: graph }] : []),
    ...(options.prometheusEndpoint
      ? [{ name: 'PROMETHEUS_ENDPOINT', value: options.prometheusEndpoint }]
      : []),
  ];
}

/**
 * The ServiceAccount a pod runs as. A graph's planner talks to the API server (its connector), so it runs
 * as the account the graph's reconciler made for it and mounts its token; no other pod mounts one
 * (DESIGN §14). The service's own extraPodSpec still wins.
 */
export function podAccount(dcd: DynamoComponentDeployment): Record<string, unknown> {
  const graph = dcd.metadata.labels?.[LABEL.graph];
  const type = dcd.spec.componentType;
  if ((type !== 'planner' && type !== 'epp') || !graph) return { automountServiceAccountToken: false };
  return {
    serviceAccountName: (type === 'epp' ? eppPoolName : plannerAccountName)(graph, serviceNameOf(dcd)),
    automountServiceAccountToken: true,
  };
}

/**
 * Dynamo's defaults: a frontend is live on /live and ready on /health of :8000, a worker the same on :9090.
 * A plain component (`default`, or no componentType) runs whatever its image does: none, as in Dynamo.
 */
export function defaultProbes(dcd: DynamoComponentDeployment): { liveness?: Probe; readiness?: Probe } {
  if (componentTypeOf(dcd.spec) === 'default') return {};
  // The endpoint picker's /live and /health are on its metrics port (its gRPC port speaks only gRPC).
  const port =
    dcd.spec.componentType === 'epp' ? EPP_PORTS.metrics.name : portOf(componentTypeOf(dcd.spec)).name;
  return {
    liveness: { httpGet: { path: '/live', port }, periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 6 },
    readiness: {
      httpGet: { path: '/health', port },
      periodSeconds: 5,
      timeoutSeconds: 4,
      failureThreshold: 3,
    },
  };
}

function defaultArgs(dcd: DynamoComponentDeployment): string[] | undefined {
  switch (dcd.spec.componentType) {
    case 'frontend':
      return ['frontend'];
    case 'worker':
    case 'prefill':
    case 'decode':
      return ['worker'];
    // A graph's planner gets its mode and services in its DCD (desired/graph.ts); one made by hand
    // still runs the planner, which then names what it lacks.
    case 'planner':
      return ['planner'];
    // Its pool (DYN_EPP_POOL_NAME) and namespace (POD_NAMESPACE) come in the env.
    case 'epp':
      return ['epp'];
    default:
      return undefined;
  }
}

export function desiredDeployment(dcd: DynamoComponentDeployment, options: WorkloadOptions): KubeObject {
  const spec = dcd.spec;
  const name = dcd.metadata.name ?? '';
  const namespace = dcd.metadata.namespace ?? 'default';
  const { mainContainer, ...podExtra } = spec.extraPodSpec ?? {};
  const image = mainContainer?.image ?? options.defaultImage;
  if (!image) {
    throw new InvalidComponentError(
      `spec.extraPodSpec.mainContainer.image: no image for ${name}, and the operator has no --default-image`,
    );
  }
  const port = portOf(componentTypeOf(spec));
  const security = securityVolumes(options.runtimeSecret);
  const runtimeEnv: EnvVar[] = [
    { name: 'DYN_NAMESPACE', value: dcdDynamoNamespace(dcd) },
    { name: 'DYN_COMPONENT', value: dynamoComponent(serviceNameOf(dcd)) },
    ...(options.etcdEndpoints ? [{ name: 'ETCD_ENDPOINTS', value: options.etcdEndpoints }] : []),
    ...(options.natsServer ? [{ name: 'NATS_SERVER', value: options.natsServer }] : []),
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ...(spec.componentType === 'epp'
      ? [
          {
            name: 'DYN_EPP_POOL_NAME',
            // A graph's pool (desired/epp.ts); a DCD made by hand names a pool after itself.
            value: graphOf(dcd) ? eppPoolName(graphOf(dcd) ?? '', serviceNameOf(dcd)) : name,
          },
        ]
      : spec.componentType === 'frontend'
        ? [{ name: 'DYN_HTTP_PORT', value: String(port.port) }]
        : [{ name: 'DYN_SYSTEM_PORT', value: String(port.port) }]),
    // `dynamo worker --engine` from the graph's backendFramework, where it names one of our engines.
    ...(spec.componentType !== 'frontend' &&
    spec.componentType !== 'planner' &&
    spec.componentType !== 'epp' &&
    (spec.backendFramework === 'onnx' || spec.backendFramework === 'mocker')
      ? [{ name: 'DYN_ENGINE', value: spec.backendFramework }]
      : []),
    ...workerEnv(dcd),
    ...plannerEnv(dcd, options),
    ...security.env,
  ];
  const env = mergeEnv(runtimeEnv, spec.envs, mainContainer?.env);

  // A volume of the service's own with the same name (its own /tmp, say) replaces ours.
  const extraVolumes: unknown[] = Array.isArray(podExtra.volumes) ? podExtra.volumes : [];
  const taken = new Set(extraVolumes.map((v) => (v as { name?: unknown } | null)?.name));
  const volumes = security.volumes.filter((v) => !taken.has(v.name));
  const mounts = security.mounts.filter((m) => !taken.has(m.name));
  for (const vm of spec.volumeMounts ?? []) {
    volumes.push({ name: vm.name, persistentVolumeClaim: { claimName: vm.name } });
    mounts.push({
      name: vm.name,
      mountPath: vm.mountPoint ?? (vm.useAsCompilationCache ? COMPILATION_CACHE_MOUNT : `/mnt/${vm.name}`),
    });
  }
  if (spec.sharedMemory && spec.sharedMemory.disabled !== true && spec.sharedMemory.size !== undefined) {
    volumes.push({
      name: 'shared-memory',
      emptyDir: { medium: 'Memory', sizeLimit: String(spec.sharedMemory.size) },
    });
    mounts.push({ name: 'shared-memory', mountPath: '/dev/shm' });
  }

  const probes = defaultProbes(dcd);
  const liveness = spec.livenessProbe ?? probes.liveness;
  const readiness = spec.readinessProbe ?? probes.readiness;
  const requests = resourceList(spec.resources?.requests);
  const limits = resourceList(spec.resources?.limits);
  const claims = spec.resources?.claims?.length ? spec.resources.claims : undefined;
  const {
    image: _image,
    env: _env,
    command,
    args,
    securityContext: containerSecurity,
    ...containerExtra
  } = mainContainer ?? {};
  // The main container's own mounts come after ours; one at a path of ours replaces it.
  const ownMounts: unknown[] = Array.isArray(containerExtra.volumeMounts) ? containerExtra.volumeMounts : [];
  const ownPaths = new Set(ownMounts.map((m) => (m as { mountPath?: unknown } | null)?.mountPath));
  const volumeMounts = [...mounts.filter((m) => !ownPaths.has(m.mountPath)), ...ownMounts];
  // The main container's own ports come after ours (a metrics port, say); one that reuses a name or a
  // number of ours is dropped: the Service targets ours by name.
  const ports = containerPorts(dcd, env);
  const ownPorts: unknown[] = Array.isArray(containerExtra.ports) ? containerExtra.ports : [];
  const clashes = (p: unknown) => {
    const { name, containerPort } = (p ?? {}) as { name?: unknown; containerPort?: unknown };
    return ports.some((q) => q.name === name || q.containerPort === containerPort);
  };
  const main: Record<string, unknown> = {
    ...containerExtra,
    securityContext: containerSecurityContext(containerSecurity),
    name: 'main',
    image,
    ...(command ? { command } : {}),
    ...(args ? { args } : command ? {} : { args: defaultArgs(dcd) }),
    env,
    ...(spec.envFromSecret ? { envFrom: [{ secretRef: { name: spec.envFromSecret } }] } : {}),
    ports: [...ports, ...ownPorts.filter((p) => !clashes(p))],
    ...(liveness ? { livenessProbe: liveness } : {}),
    ...(readiness ? { readinessProbe: readiness } : {}),
    ...(requests || limits || claims
      ? {
          resources: {
            ...(requests ? { requests } : {}),
            ...(limits ? { limits } : {}),
            ...(claims ? { claims } : {}),
          },
        }
      : {}),
    ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
  };
  if (main.args === undefined) delete main.args;

  const extraContainers = Array.isArray(podExtra.containers) ? podExtra.containers : [];
  const modelRef = spec.modelRef?.name;
  const podLabels = {
    ...(spec.extraPodMetadata?.labels ?? {}),
    ...componentLabels(dcd),
    ...selectorLabels(dcd),
    ...(modelRef ? { [LABEL.baseModelHash]: modelHash(modelRef) } : {}),
    // What the chart's NetworkPolicies let reach NATS and etcd.
    [LABEL.platform]: 'true',
  };
  const allVolumes = [...volumes, ...extraVolumes];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      labels: { ...(spec.labels ?? {}), ...componentLabels(dcd) },
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      ownerReferences: [ownerRef(dcd)],
    },
    spec: {
      // A type with no process here (epp) gets no pod rather than one that crash-loops.
      replicas: spec.replicas ?? 1,
      selector: { matchLabels: selectorLabels(dcd) },
      template: {
        metadata: {
          labels: podLabels,
          ...(spec.extraPodMetadata?.annotations ? { annotations: spec.extraPodMetadata.annotations } : {}),
        },
        spec: {
          ...podAccount(dcd),
          ...podExtra,
          securityContext: podSecurityContext(podExtra.securityContext),
          containers: [main, ...extraContainers],
          ...(allVolumes.length > 0 ? { volumes: allVolumes } : {}),
        },
      },
    },
  };
}

export function desiredService(dcd: DynamoComponentDeployment): KubeObject {
  const port = portOf(componentTypeOf(dcd.spec));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: dcd.metadata.name ?? '',
      namespace: dcd.metadata.namespace ?? 'default',
      labels: componentLabels(dcd),
      ownerReferences: [ownerRef(dcd)],
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(dcd),
      ports: [
        {
          name: port.name,
          port: port.port,
          targetPort: port.name,
          protocol: 'TCP',
          // Gateways speak HTTP/2 (gRPC) to an endpoint picker's Service.
          ...(dcd.spec.componentType === 'epp' ? { appProtocol: 'http2' } : {}),
        },
      ],
    },
  };
}

/** An Ingress for a frontend whose spec asks for one; undefined otherwise (an existing one is removed). */
export function desiredIngress(dcd: DynamoComponentDeployment): KubeObject | undefined {
  const ingress = dcd.spec.ingress;
  if (dcd.spec.componentType !== 'frontend' || ingress?.enabled !== true || !ingress.host) return undefined;
  const name = dcd.metadata.name ?? '';
  const port = portOf('frontend');
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name,
      namespace: dcd.metadata.namespace ?? 'default',
      labels: { ...(ingress.labels ?? {}), ...componentLabels(dcd) },
      ...(ingress.annotations ? { annotations: ingress.annotations } : {}),
      ownerReferences: [ownerRef(dcd)],
    },
    spec: {
      ...(ingress.ingressControllerClassName ? { ingressClassName: ingress.ingressControllerClassName } : {}),
      ...(ingress.tls?.secretName
        ? { tls: [{ hosts: [ingress.host], secretName: ingress.tls.secretName }] }
        : {}),
      rules: [
        {
          host: ingress.host,
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: port.port } } } },
            ],
          },
        },
      ],
    },
  };
}
