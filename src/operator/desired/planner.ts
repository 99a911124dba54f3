// A `componentType: planner` service (DESIGN §13), as pure functions of its graph: the command line it
// runs when its manifest gives none, and the rules of the Role (made in graph.ts with its ServiceAccount
// and RoleBinding) that let its pod do exactly what the Kubernetes connector
// (src/planner/kube-connector.ts) does — read and scale its own graph — and nothing else:
//
//   get/patch  dynamographdeploymentscalingadapters/scale  <graph>-<service> of the graph's workers
//   get/patch  dynamographdeployments                      <graph>
//
// Readiness is read from the DGD's status (services.<name>.readyReplicas, which the operator copies from
// the Deployments), so no rule on DCDs, Deployments or pods. The operator holds every right it grants
// here (the chart's ClusterRole), which is what lets the API server accept the Role without `escalate`
// or `bind`.
import {
  ADAPTER_KIND,
  API_GROUP,
  type ComponentSpec,
  DGD_KIND,
  type DynamoGraphDeployment,
  workerRole,
} from '../../api/k8s/index.js';
import { adapterName } from '../naming.js';

export type PlannerMode = 'agg' | 'disagg';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  verbs: string[];
}

export const isPlanner = (service: Pick<ComponentSpec, 'componentType'>): boolean =>
  service.componentType === 'planner';

/** disagg when the graph has prefill or decode workers (either spelling, as `workerRole`), else agg. */
export function plannerMode(dgd: DynamoGraphDeployment): PlannerMode {
  return Object.values(dgd.spec.services).some((s) => {
    const role = workerRole(s);
    return role === 'prefill' || role === 'decode';
  })
    ? 'disagg'
    : 'agg';
}

/** Services by name: the API server keeps no key order (a stored object's maps come back sorted). */
const byName = (dgd: DynamoGraphDeployment) =>
  Object.entries(dgd.spec.services).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * `dynamo planner` with the graph's mode and the services it sizes: the first prefill and decode services
 * (disagg) or the first aggregated worker (agg), by name. Everything else (SLA targets,
 * profile, budgets) keeps the planner's own defaults; a manifest that wants others gives its own args.
 */
export function plannerArgs(dgd: DynamoGraphDeployment): string[] {
  const first = (role: string) =>
    Object.entries(dgd.spec.services).find(([, s]) => workerRole(s) === role)?.[0];
  const mode = plannerMode(dgd);
  const args = ['planner', '--mode', mode];
  const flags: [string, string | undefined][] =
    mode === 'disagg'
      ? [
          ['--prefill-service', first('prefill')],
          ['--decode-service', first('decode')],
        ]
      : [['--agg-service', first('agg')]];
  for (const [flag, service] of flags) if (service !== undefined) args.push(flag, service);
  return args;
}

/**
 * The planner's rights on its graph: the adapters of the services it sizes (workers of any role; not the
 * frontend, not itself), and the graph itself. (A merge patch of the graph cannot be limited to fields:
 * RBAC has no field-level rules; the validating webhook guards what it must.)
 */
export function plannerRules(dgd: DynamoGraphDeployment): PolicyRule[] {
  const graph = dgd.metadata.name ?? '';
  const adapters = byName(dgd)
    .filter(([, s]) => workerRole(s) !== undefined)
    .map(([name]) => adapterName(graph, name));
  return [
    // Every worker's adapter, present or not: on a missing one the connector must see the
    // API server's 404 (and fall back to the graph), not a 403. Never an empty list: in RBAC an empty
    // resourceNames means every name.
    ...(adapters.length > 0
      ? [
          {
            apiGroups: [API_GROUP],
            resources: [`${ADAPTER_KIND.plural}/scale`],
            resourceNames: adapters,
            verbs: ['get', 'patch'],
          },
        ]
      : []),
    { apiGroups: [API_GROUP], resources: [DGD_KIND.plural], resourceNames: [graph], verbs: ['get', 'patch'] },
  ];
}
