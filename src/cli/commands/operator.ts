import { z } from 'zod';
import { defineCommand } from '../command.js';
import { KUBECONFIG_OPTION } from '../shared-options.js';

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
const seconds = (def: number) => z.coerce.number().positive().default(def);
const bool = (def: boolean) => z.boolean().default(def);

export const command = defineCommand({
  name: 'operator',
  summary: 'run the Kubernetes operator: reconcilers, admission webhooks, leader election',
  details: [
    'Examples:',
    '  dynamo operator                                   # in a cluster (service account)',
    '  dynamo operator --kubeconfig ~/.kube/config --install-crds --local-webhooks',
  ].join('\n'),
  options: {
    kubeconfig: KUBECONFIG_OPTION,
    namespace: {
      flag: 'namespace',
      env: 'POD_NAMESPACE',
      schema: z.string().min(1).default('dynamo-system'),
      description: "the operator's namespace (its Lease and webhook certificate Secret)",
      placeholder: '<ns>',
    },
    identity: {
      flag: 'identity',
      env: 'POD_NAME',
      schema: z.string().min(1).optional(),
      description: 'this replica in leader election (default: host-pid)',
      placeholder: '<id>',
    },
    defaultImage: {
      flag: 'default-image',
      env: 'DYN_DEFAULT_IMAGE',
      schema: z.string().min(1).optional(),
      description: 'image of components that name none',
      placeholder: '<image>',
    },
    etcdEndpoints: {
      flag: 'etcd-endpoints',
      env: 'DYN_OPERATOR_ETCD_ENDPOINTS',
      schema: z.string().min(1).optional(),
      description: 'ETCD_ENDPOINTS given to the pods',
      placeholder: '<urls>',
    },
    natsServer: {
      flag: 'nats-server',
      env: 'DYN_OPERATOR_NATS_SERVER',
      schema: z.string().min(1).optional(),
      description: 'NATS_SERVER given to the pods',
      placeholder: '<url>',
    },
    prometheusEndpoint: {
      flag: 'prometheus-endpoint',
      env: 'PROMETHEUS_ENDPOINT',
      schema: z.url().optional(),
      description: 'PROMETHEUS_ENDPOINT given to planner pods (where they read the load)',
      placeholder: '<url>',
    },
    runtimeSecret: {
      flag: 'runtime-secret',
      env: 'DYN_OPERATOR_RUNTIME_SECRET',
      schema: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Secret name (lowercase DNS subdomain)')
        .max(253)
        .optional(),
      description:
        'Secret of NATS/etcd credentials mounted read-only into every graph pod at /etc/dynamo/runtime ' +
        '(DYN_RUNTIME_SECRETS_DIR); <name>-tls, if present, adds its tls.crt/tls.key/ca.crt for both',
      placeholder: '<name>',
    },
    installCrds: {
      flag: 'install-crds',
      kind: 'boolean',
      schema: bool(false),
      description: 'apply the CRDs at start',
    },
    leaderElect: {
      flag: 'leader-elect',
      env: 'DYN_LEADER_ELECT',
      kind: 'boolean',
      schema: bool(true),
      description: 'elect a leader on a Lease (only the leader reconciles); --no-leader-elect to lead alone',
    },
    leaderElectionId: {
      flag: 'leader-election-id',
      schema: z.string().min(1).default('dynamo-operator-leader'),
      description: 'name of the Lease',
      placeholder: '<name>',
    },
    leaseDuration: {
      flag: 'lease-duration',
      schema: seconds(15),
      description: 'lease duration, seconds',
      placeholder: '<s>',
    },
    renewDeadline: {
      flag: 'renew-deadline',
      schema: seconds(10),
      description: 'leader gives up after failing to renew this long, seconds',
      placeholder: '<s>',
    },
    retryPeriod: {
      flag: 'retry-period',
      schema: seconds(2),
      description: 'lease retry period, seconds',
      placeholder: '<s>',
    },
    bindAddress: {
      flag: 'bind-address',
      schema: z.string().default('0.0.0.0'),
      description: 'address of the health, metrics and webhook servers',
      placeholder: '<addr>',
    },
    healthPort: {
      flag: 'health-port',
      env: 'DYN_HEALTH_PORT',
      schema: port(8081),
      description: '/healthz and /readyz',
      placeholder: '<port>',
    },
    metricsPort: {
      flag: 'metrics-port',
      env: 'DYN_METRICS_PORT',
      schema: port(8080),
      description: '/metrics',
      placeholder: '<port>',
    },
    webhooks: {
      flag: 'webhooks',
      env: 'DYN_WEBHOOKS',
      kind: 'boolean',
      schema: bool(true),
      description: 'serve the admission webhooks (--no-webhooks to turn off)',
    },
    webhookPort: {
      flag: 'webhook-port',
      env: 'DYN_WEBHOOK_PORT',
      schema: port(9443),
      description: 'admission webhooks (HTTPS)',
      placeholder: '<port>',
    },
    localWebhooks: {
      flag: 'local-webhooks',
      kind: 'boolean',
      schema: bool(false),
      description:
        'register webhook configurations and the CRD conversion webhook that call this process by URL (outside a cluster)',
    },
    webhookHost: {
      flag: 'webhook-host',
      schema: z.string().default('127.0.0.1'),
      description: 'address the API server reaches this process at, with --local-webhooks',
      placeholder: '<ip>',
    },
    certDir: {
      flag: 'cert-dir',
      env: 'DYN_WEBHOOK_CERT_DIR',
      schema: z.string().min(1).optional(),
      description: 'tls.crt/tls.key from cert-manager; unset: the operator issues and rotates its own',
      placeholder: '<dir>',
    },
    webhookService: {
      flag: 'webhook-service',
      schema: z.string().default('dynamo-operator-webhook'),
      description: 'Service in front of the webhooks (in a cluster)',
      placeholder: '<name>',
    },
    workers: {
      flag: 'workers',
      schema: z.coerce.number().int().min(1).max(64).default(4),
      description: 'concurrent reconciles per controller',
      placeholder: '<n>',
    },
    watchNamespace: {
      flag: 'watch-namespace',
      env: 'DYN_WATCH_NAMESPACE',
      schema: z.string().min(1).optional(),
      description: 'reconcile and admit this namespace only (default: all)',
      placeholder: '<ns>',
    },
    webhookConfigName: {
      flag: 'webhook-config-name',
      schema: z.string().min(1).default('dynamo-operator'),
      description: 'name prefix of the webhook configurations it registers',
      placeholder: '<name>',
    },
    resync: {
      flag: 'resync',
      schema: seconds(300),
      description: 'full resync period, seconds',
      placeholder: '<s>',
    },
  },
  async run(o, { log, signal }) {
    const { runOperator } = await import('../../operator/operator.js');
    await runOperator(
      {
        kubeconfig: o.kubeconfig,
        namespace: o.namespace,
        identity: o.identity,
        defaultImage: o.defaultImage,
        etcdEndpoints: o.etcdEndpoints,
        natsServer: o.natsServer,
        prometheusEndpoint: o.prometheusEndpoint,
        runtimeSecret: o.runtimeSecret,
        installCrds: o.installCrds,
        leaderElect: o.leaderElect,
        leaderElectionId: o.leaderElectionId,
        leaseDurationMs: o.leaseDuration * 1000,
        renewDeadlineMs: o.renewDeadline * 1000,
        retryPeriodMs: o.retryPeriod * 1000,
        bindAddress: o.bindAddress,
        healthPort: o.healthPort,
        metricsPort: o.metricsPort,
        webhooks: o.webhooks,
        webhookPort: o.webhookPort,
        localWebhooks: o.localWebhooks,
        webhookHost: o.webhookHost,
        certDir: o.certDir,
        webhookServiceName: o.webhookService,
        workers: o.workers,
        resyncMs: o.resync * 1000,
        watchNamespace: o.watchNamespace,
        webhookConfigName: o.webhookConfigName,
      },
      log,
      signal,
    );
    return 0;
  },
});
