import { z } from 'zod';
import { nameSchema } from '../../api/index.js';
import {
  DEFAULT_EPP_HEALTH_PORT,
  DEFAULT_EPP_MAX_BODY_BYTES,
  DEFAULT_EPP_METRICS_PORT,
  DEFAULT_EPP_PORT,
} from '../../epp/index.js';
import { POOL_ENDPOINT_KINDS } from '../../epp/picker.js';
import { serveEpp } from '../../epp/serve.js';
import { readWorkerHintSecret } from '../../frontend/worker-hint.js';
import { defineCommand } from '../command.js';
import { ROUTER_OPTIONS, routerSettings } from '../router-options.js';
import {
  connectionSecurity,
  gracefulShutdownOption,
  KUBECONFIG_OPTION,
  RUNTIME_OPTIONS,
} from '../shared-options.js';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const command = defineCommand({
  name: 'epp',
  summary: 'endpoint picker of a Gateway API Inference Extension InferencePool, routing with the KV router',
  details: [
    'An Envoy ext_proc v3 gRPC server (the Inference Extension endpoint-picker protocol): for each request',
    'the Gateway sends, it reads the OpenAI body, renders the chat template, tokenizes, picks the worker with',
    'the KV router (KV events and load from the workers; --no-kv-events: approximate mode) and answers the',
    'ip:port of a pool pod in the x-gateway-destination-endpoint header and in dynamic metadata envoy.lb.',
    '',
    "The pool's pods come from the InferencePool (--pool-name, in --pool-namespace): Ready pods matching its",
    'selector, at its first target port. --pool-endpoints frontends (default; what the operator deploys):',
    'they are frontends; the answer is the Ready frontend with the fewest requests in flight, and the picked',
    'worker goes along in x-dynamo-worker-instance-id, which a frontend run with --trust-worker-hint routes',
    'to; with --worker-hint-secret-file the secret goes along in x-dynamo-worker-hint-token, for frontends',
    'that require it. --pool-endpoints workers: they are workers serving HTTP themselves, matched to their',
    'pods by the pod IP their KV data plane announces ($POD_IP): decode-only workers announce none and are',
    'not picked.',
    '',
    'Errors: a body that is not JSON, has no model, or is a chat/completions request that does not validate',
    '400, too large 413, unknown model 404, no Ready pod 503, every worker busy 429, no worker of the model in',
    'the pool 503 — or, with --fail-open, a Ready pod without a hint when KV routing cannot decide (counted in',
    'dynamo_epp_fallbacks_total). Other bodies with a model (the Responses API) are routed on load alone.',
    '',
    'Ports (as the Inference Extension EPP): ext_proc 9002, gRPC health 9003, /metrics /health /live 9090.',
    '',
    'Examples:',
    '  dynamo epp --pool-name my-graph-pool --pool-namespace default',
    '  dynamo epp --pool-name llama --no-kv-events --fail-open',
  ].join('\n'),
  options: {
    poolName: {
      flag: 'pool-name',
      env: 'DYN_EPP_POOL_NAME',
      schema: z.string().min(1, 'the InferencePool to pick for is required'),
      description: 'the InferencePool whose pods are picked',
      placeholder: '<name>',
    },
    poolNamespace: {
      flag: 'pool-namespace',
      env: 'POD_NAMESPACE',
      schema: z.string().min(1).default('default'),
      description: "the InferencePool's Kubernetes namespace",
      placeholder: '<ns>',
    },
    kubeconfig: KUBECONFIG_OPTION,
    namespace: {
      flag: 'namespace',
      env: 'DYN_NAMESPACE',
      schema: nameSchema.optional(),
      description: 'route the models of this Dynamo namespace only (default: every namespace)',
      placeholder: '<ns>',
    },
    host: {
      flag: 'host',
      env: 'DYN_EPP_HOST',
      schema: z.string().min(1).default('0.0.0.0'),
      description: 'address the gRPC and metrics servers listen on',
      placeholder: '<host>',
    },
    grpcPort: {
      flag: 'grpc-port',
      env: 'DYN_EPP_GRPC_PORT',
      schema: port(DEFAULT_EPP_PORT),
      description: 'ext_proc (and gRPC health) port',
      placeholder: '<port>',
    },
    grpcHealthPort: {
      flag: 'grpc-health-port',
      env: 'DYN_EPP_GRPC_HEALTH_PORT',
      schema: port(DEFAULT_EPP_HEALTH_PORT),
      description: 'gRPC health port for probes',
      placeholder: '<port>',
    },
    metricsPort: {
      flag: 'metrics-port',
      env: 'DYN_EPP_METRICS_PORT',
      schema: port(DEFAULT_EPP_METRICS_PORT),
      description: '/metrics, /health, /live',
      placeholder: '<port>',
    },
    poolEndpoints: {
      flag: 'pool-endpoints',
      env: 'DYN_EPP_POOL_ENDPOINTS',
      schema: z.enum(POOL_ENDPOINT_KINDS).default('frontends'),
      description:
        "what the pool's pods are: frontends (the worker goes as a hint header) or workers that serve HTTP",
      placeholder: '<frontends|workers>',
    },
    failOpen: {
      flag: 'fail-open',
      env: 'DYN_EPP_FAIL_OPEN',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description:
        'when KV routing cannot decide, send to a Ready pod without a worker hint instead of answering 503 / 429',
    },
    maxBodyBytes: {
      flag: 'max-body-bytes',
      env: 'DYN_EPP_MAX_BODY_BYTES',
      schema: z.coerce.number().int().min(1).default(DEFAULT_EPP_MAX_BODY_BYTES),
      description: 'larger request bodies are answered 413',
      placeholder: '<bytes>',
    },
    workerHintSecretFile: {
      flag: 'worker-hint-secret-file',
      env: 'DYN_WORKER_HINT_SECRET_FILE',
      schema: z.string().min(1, 'expected a file path').optional(),
      description:
        "frontends mode: a file holding the secret sent beside each hint in x-dynamo-worker-hint-token (the frontends' --worker-hint-secret-file); a client's own is always removed",
      placeholder: '<path>',
    },
    ...RUNTIME_OPTIONS,
    ...ROUTER_OPTIONS,
    gracefulShutdown: gracefulShutdownOption(30_000, 'on SIGTERM, how long open ext_proc streams may finish'),
  },
  async run(o, { log, signal }) {
    await serveEpp(
      {
        epp: {
          host: o.host,
          port: o.grpcPort,
          healthPort: o.grpcHealthPort,
          namespace: o.namespace,
          failOpen: o.failOpen,
          poolEndpoints: o.poolEndpoints,
          maxBodyBytes: o.maxBodyBytes,
          router: routerSettings(o),
          workerHintToken:
            o.workerHintSecretFile === undefined
              ? undefined
              : await readWorkerHintSecret(o.workerHintSecretFile),
        },
        pool: { namespace: o.poolNamespace, name: o.poolName },
        kubeconfig: o.kubeconfig,
        metricsPort: o.metricsPort,
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
        security: connectionSecurity(o),
        gracefulShutdownMs: o.gracefulShutdown,
      },
      log,
      signal,
    );
    return 0;
  },
});
