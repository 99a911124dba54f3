// `dynamo operator`: builds the manager, its informers, the four controllers and the webhook server
// from a validated config, and runs them until the signal fires.
import { hostname } from 'node:os';
import type { Logger } from '../runtime/logger.js';
import { Controller, ownerKey } from './controller.js';
import { installCrds } from './crds.js';
import { EventRecorder } from './events.js';
import { KubeClient } from './kube/client.js';
import { RT } from './kube/types.js';
import { LeaderElector } from './leader-election.js';
import { Manager } from './manager.js';
import { OperatorMetrics } from './metrics.js';
import { FIELD_MANAGER, LABEL, MANAGED_BY } from './naming.js';
import { AdapterReconciler, adaptersOfGraph } from './reconcilers/adapter.reconciler.js';
import { ComponentReconciler } from './reconcilers/component.reconciler.js';
import { GraphReconciler } from './reconcilers/graph.reconciler.js';
import { ModelReconciler, modelsOfPod } from './reconcilers/model.reconciler.js';
import { ADAPTER_RT, DCD_RT, DGD_RT, MODEL_RT } from './reconcilers/resource-types.js';
import type { WebhookRegistration, WebhookTarget } from './webhooks/configurations.js';
import type { TlsSource } from './webhooks/tls-source.js';

export interface OperatorConfig {
  kubeconfig?: string;
  /** The operator's own namespace: its Lease and certificate Secret live there. */
  namespace: string;
  identity?: string;
  defaultImage?: string;
  etcdEndpoints?: string;
  natsServer?: string;
  /** PROMETHEUS_ENDPOINT given to planner pods. */
  prometheusEndpoint?: string;
  /** Secret of NATS/etcd credentials mounted into every graph pod (DESIGN §14). */
  runtimeSecret?: string;
  installCrds: boolean;
  leaderElect: boolean;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  bindAddress: string;
  healthPort: number;
  metricsPort: number;
  webhooks: boolean;
  webhookPort: number;
  /** Register the webhook configurations with a URL on this host (development, tests). */
  localWebhooks: boolean;
  webhookHost: string;
  /** Files of a cert-manager Secret; unset: the operator makes and rotates its own. */
  certDir?: string;
  webhookServiceName: string;
  workers: number;
  resyncMs: number;
  /** Reconcile (and admit) one namespace only; unset: the whole cluster. */
  watchNamespace?: string;
  /** Name prefix of the webhook configurations. */
  webhookConfigName: string;
}

/** The username the API server sees for our credentials (SelfSubjectReview), for the webhook's "is it us". */
async function whoAmI(client: KubeClient, log: Logger): Promise<string | undefined> {
  try {
    const review = await client.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    return review.status?.userInfo?.username;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'cannot learn our own username: replica guards apply to everyone',
    );
    return undefined;
  }
}

export async function runOperator(config: OperatorConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const client = KubeClient.fromKubeconfig(config.kubeconfig, FIELD_MANAGER, {
    onWarning: (warning, request) => log.warn({ request }, `API server warning: ${warning}`),
  });
  const identity = config.identity ?? `${hostname()}-${process.pid}`;
  if (config.installCrds) {
    await installCrds(client);
    log.info('CRDs installed');
  }
  const metrics = new OperatorMetrics();
  const events = new EventRecorder(client, FIELD_MANAGER, log);
  const elector = config.leaderElect
    ? new LeaderElector({
        client,
        namespace: config.namespace,
        name: config.leaderElectionId,
        identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        log,
      })
    : undefined;
  const manager = new Manager({
    client,
    log,
    metrics,
    elector,
    bindAddress: config.bindAddress,
    healthPort: config.healthPort,
    metricsPort: config.metricsPort,
    resyncMs: config.resyncMs,
    watchNamespace: config.watchNamespace,
  });

  const managed = `${LABEL.managedBy}=${MANAGED_BY}`;
  const graphs = manager.informer(DGD_RT);
  const components = manager.informer(DCD_RT);
  const adapters = manager.informer(ADAPTER_RT);
  const models = manager.informer(MODEL_RT);
  const deployments = manager.informer(RT.deployment, managed);
  const services = manager.informer(RT.service, managed);
  const ingresses = manager.informer(RT.ingress, managed);
  const pvcs = manager.informer(RT.pvc, managed);
  const serviceAccounts = manager.informer(RT.serviceAccount, managed);
  const roles = manager.informer(RT.role, managed);
  const roleBindings = manager.informer(RT.roleBinding, managed);
  const pods = manager.informer(RT.pod, LABEL.baseModelHash);

  const common = { metrics, log, workers: config.workers };
  const controllers = [
    new Controller({
      ...common,
      name: 'dynamographdeployment',
      reconciler: new GraphReconciler({
        client,
        graphs,
        components,
        adapters,
        pvcs,
        serviceAccounts,
        roles,
        roleBindings,
        events,
      }),
    })
      .watchFor(graphs)
      .watch(components, ownerKey('DynamoGraphDeployment'))
      .watch(adapters, ownerKey('DynamoGraphDeployment'))
      .watch(pvcs, ownerKey('DynamoGraphDeployment'))
      .watch(serviceAccounts, ownerKey('DynamoGraphDeployment'))
      .watch(roles, ownerKey('DynamoGraphDeployment'))
      .watch(roleBindings, ownerKey('DynamoGraphDeployment')),
    new Controller({
      ...common,
      name: 'dynamocomponentdeployment',
      reconciler: new ComponentReconciler({
        client,
        components,
        deployments,
        services,
        ingresses,
        events,
        workload: {
          defaultImage: config.defaultImage,
          etcdEndpoints: config.etcdEndpoints,
          natsServer: config.natsServer,
          prometheusEndpoint: config.prometheusEndpoint,
          runtimeSecret: config.runtimeSecret,
        },
      }),
    })
      .watchFor(components)
      .watch(deployments, ownerKey('DynamoComponentDeployment'))
      .watch(services, ownerKey('DynamoComponentDeployment'))
      .watch(ingresses, ownerKey('DynamoComponentDeployment')),
    new Controller({
      ...common,
      name: 'dynamographdeploymentscalingadapter',
      reconciler: new AdapterReconciler({ client, adapters, graphs, events }),
    })
      .watchFor(adapters)
      .watch(graphs, adaptersOfGraph(adapters)),
    new Controller({
      ...common,
      name: 'dynamomodel',
      reconciler: new ModelReconciler({ client, models, pods, events }),
    })
      .watchFor(models)
      .watch(pods, modelsOfPod(models)),
  ];
  for (const c of controllers) manager.add(c);

  if (config.webhooks) {
    // Loaded only here: the X.509 stack costs ~11 MiB that an operator without webhooks need not carry.
    const [{ WebhookServer }, { FileTlsSource, SecretTlsSource }, { webhooks }] = await Promise.all([
      import('./webhooks/server.js'),
      import('./webhooks/tls-source.js'),
      import('./webhooks/registry.js'),
    ]);
    const tls: TlsSource = config.certDir
      ? new FileTlsSource(config.certDir)
      : new SecretTlsSource({
          client,
          namespace: config.namespace,
          secretName: 'dynamo-operator-webhook-cert',
          names: config.localWebhooks
            ? { dns: ['localhost'], ips: [config.webhookHost] }
            : {
                dns: [
                  config.webhookServiceName,
                  `${config.webhookServiceName}.${config.namespace}`,
                  `${config.webhookServiceName}.${config.namespace}.svc`,
                ],
                ips: [],
              },
          log,
        });
    const me = await whoAmI(client, log);
    const registration = registerTarget(config);
    const server = new WebhookServer({
      host: config.localWebhooks ? config.webhookHost : config.bindAddress,
      port: config.webhookPort,
      tls,
      webhooks: webhooks({ defaultImage: config.defaultImage }),
      log,
      metrics,
      operatorUsernames: new Set(me ? [me] : []),
      register: { client, registration },
      // Mounted files are cheap to re-read, and cert-manager renews on its own schedule.
      certCheckIntervalMs: config.certDir ? 60_000 : 3_600_000,
    });
    manager.addReadyCheck(() => server.ready);
    manager.add({ name: 'webhooks', needsLeader: false, start: (s) => server.start(s) });
  }
  await ensureNamespace(client, config.namespace, log);
  log.info({ identity, leaderElect: config.leaderElect, webhooks: config.webhooks }, 'operator starting');
  try {
    await manager.start(signal);
  } finally {
    client.close();
  }
}

function registerTarget(config: OperatorConfig): WebhookRegistration {
  const target: WebhookTarget = config.localWebhooks
    ? { kind: 'url', baseUrl: `https://${config.webhookHost}:${config.webhookPort}` }
    : { kind: 'service', namespace: config.namespace, name: config.webhookServiceName, port: 443 };
  return {
    target,
    name: config.webhookConfigName,
    namespace: config.watchNamespace,
    // With cert-manager (--cert-dir) the chart owns the admission configurations and cainjector their
    // CA; the CRDs' conversion webhook is still ours to point here.
    ...(config.certDir ? { configurations: false } : {}),
  };
}

/** Outside a cluster the operator's namespace may not exist yet (its Lease and Secret go there). */
async function ensureNamespace(client: KubeClient, namespace: string, log: Logger): Promise<void> {
  if (await client.get(RT.namespace, undefined, namespace).catch(() => undefined)) return;
  try {
    await client.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    log.info({ namespace }, 'namespace created');
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'namespace not created');
  }
}
