import { z } from 'zod';
import { createKubeConnector } from '../../planner/kube-connector.js';
import type { PlannedService } from '../../planner/planner.js';
import { servePlanner } from '../../planner/serve.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';
import { PLANNER_OPTIONS, plannerSettings } from '../planner-options.js';
import {
  connectionSecurity,
  KUBECONFIG_OPTION,
  NAMESPACE_OPTION,
  RUNTIME_OPTIONS,
} from '../shared-options.js';

const serviceName = (def: string, description: string) => ({
  schema: z.string().min(1).default(def),
  description,
  placeholder: '<service>',
});

/** The Dynamo component a DGD service's workers register as (the operator's DYN_COMPONENT rule). */
export function componentOf(service: string): string {
  return service.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

export const command = defineCommand({
  name: 'planner',
  summary: 'scale prefill/decode (or aggregated) workers to meet TTFT and ITL targets (SLA planner)',
  details: [
    'Examples:',
    '  dynamo planner --mode disagg --profile /profiles/mocker.json --model mocker --ttft 500 --itl 50',
    '  dynamo planner --mode agg --agg-service MockerWorker --profile p.json --model mocker --advisory',
    '',
    "Every --adjustment-interval the throughput loop reads the frontends' dynamo_frontend_* metrics from",
    'Prometheus (request rate, ISL, OSL, TTFT, ITL, KV hit rate; of --model, else of every model: a',
    "graph's frontend serves one), predicts the next interval (--load-predictor) and sizes each service",
    'from the --profile (`dynamo profile`), read again every interval. Every',
    "--load-interval the load loop reads the workers' load reports (event plane) and adds a replica when",
    'every engine misses the SLA, removes one when every engine is well under it. A service is not acted',
    'on again until its replicas are ready. Unknown inputs decide nothing; --advisory decides, logs and',
    'exports dynamo_planner_* metrics on --system-port, and scales nothing.',
    'Bad input does not stop it: without a usable profile (none, no file yet, malformed), with Prometheus',
    'unreachable, a service missing from the graph or a budget below the minimum, it keeps running, logs',
    'the cause once, scales nothing and says why in dynamo_planner_decisions_total{reason}.',
    'Kubernetes: the graph is DYN_PARENT_DGD_K8S_NAME in POD_NAMESPACE; the planner patches the scale',
    'subresource of its DGDSA `<graph>-<service lowercased>` (the DGD itself when there is none).',
  ].join('\n'),
  options: {
    mode: {
      flag: 'mode',
      env: 'DYN_PLANNER_MODE',
      schema: z.enum(['agg', 'disagg']).default('disagg'),
      description: 'agg: size one aggregated service; disagg: size prefill and decode apart',
      placeholder: '<mode>',
    },
    environment: {
      flag: 'environment',
      schema: z.enum(['kubernetes']).default('kubernetes'),
      description: 'where the services run (a local connector comes with `dynamo run --planner`)',
      placeholder: '<env>',
    },
    ...PLANNER_OPTIONS,
    prometheusEndpoint: {
      flag: 'prometheus-endpoint',
      env: 'PROMETHEUS_ENDPOINT',
      schema: z
        .url({ protocol: /^https?$/ })
        .default('http://prometheus-kube-prometheus-prometheus.monitoring.svc.cluster.local:9090'),
      description: 'Prometheus that scrapes the frontends',
      placeholder: '<url>',
    },
    namespace: NAMESPACE_OPTION,
    model: {
      flag: 'model',
      env: 'DYN_PLANNER_MODEL',
      schema: z.string().min(1).optional(),
      description: 'served model name whose traffic is read (default: every model Prometheus holds)',
      placeholder: '<name>',
    },
    prefillService: { flag: 'prefill-service', ...serviceName('prefill', 'disagg: the prefill service') },
    decodeService: { flag: 'decode-service', ...serviceName('decode', 'disagg: the decode service') },
    aggService: { flag: 'agg-service', ...serviceName('decode', 'agg: the aggregated worker service') },
    noOperation: {
      flag: 'no-operation',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: "same as --advisory (Dynamo's name)",
    },
    systemPort: {
      flag: 'system-port',
      env: 'DYN_SYSTEM_PORT',
      schema: z.coerce.number().int().min(0).max(65535).default(9090),
      description: 'port of /health, /live and /metrics',
      placeholder: '<port>',
    },
    graph: {
      flag: 'graph',
      env: 'DYN_PARENT_DGD_K8S_NAME',
      schema: z.string().min(1).optional(),
      description: 'the DynamoGraphDeployment whose services are scaled (set by the operator)',
      placeholder: '<name>',
    },
    kubeNamespace: {
      flag: 'kube-namespace',
      env: 'POD_NAMESPACE',
      schema: z.string().min(1).default('default'),
      description: "the graph's Kubernetes namespace",
      placeholder: '<ns>',
    },
    kubeconfig: KUBECONFIG_OPTION,
    ...RUNTIME_OPTIONS,
  },
  async run(o, { log, signal }) {
    // No --profile, no --model, --min-replicas above --max-replicas: the planner still runs (the
    // operator's default args give neither), says why in its logs and metrics and scales nothing.
    if (o.graph === undefined)
      throw new UsageError(
        '--graph (or DYN_PARENT_DGD_K8S_NAME): the DynamoGraphDeployment to scale is required',
      );
    const service = (role: PlannedService['role'], name: string): PlannedService => ({
      role,
      name,
      component: componentOf(name),
    });
    const services =
      o.mode === 'agg'
        ? [service('agg', o.aggService)]
        : [service('prefill', o.prefillService), service('decode', o.decodeService)];
    const connector = await createKubeConnector({
      graph: o.graph,
      namespace: o.kubeNamespace,
      ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
      log,
    });
    await servePlanner(
      {
        planner: {
          ...plannerSettings(o),
          mode: o.mode,
          services,
          ...(o.noOperation ? { scaling: 'advisory' as const } : {}),
        },
        profilePath: o.profile,
        prometheusEndpoint: o.prometheusEndpoint,
        model: o.model,
        namespace: o.namespace,
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
        security: connectionSecurity(o),
        systemPort: o.systemPort,
        loadStaleAfterMs: Math.max(3 * o.loadInterval * 1000, 10_000),
      },
      connector,
      log,
      signal,
    );
    return 0;
  },
});
