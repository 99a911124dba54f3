// `dynamo epp` (src/epp) driven by an upstream ext_proc client — Envoy's generated ext_proc v3 client
// from go-control-plane, built by scripts/build-epp-client.sh — over real etcd, NATS and kube-apiserver:
// an InferencePool (the vendored CRD) whose Pods we create and mark Ready with a pod IP, and two mocker
// workers announcing those IPs ($POD_IP, as under the operator). A frontend in direct mode puts a known
// prefix into each worker's KV cache; the EPP must send requests sharing that prefix to that worker's pod.
// In frontends mode (the operator's) the pool's pods are two frontends listening on their pod IPs: the
// EPP answers one of them plus the worker as a hint, and that frontend sends the request there.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_EPP_MAX_BODY_BYTES, type Epp, startEpp } from '../../../src/epp/index.js';
import { PoolWatch } from '../../../src/epp/pool.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { INFERENCE_POOL_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { startDynamo } from '../../harness/dynamo-process.js';
import { REPO_ROOT } from '../../harness/kube-apiserver.js';
import { freePort } from '../../harness/process.js';
import { spawnWorker, type WorkerProcess } from '../../harness/worker-process.js';
import { eventually, kube, newNamespace } from '../operator/helpers.js';

const log = createLogger({ level: 'silent' });
const dynNamespace = `epptest${process.pid}`;
const MODEL = 'mocker';
const POOL = 'mocker-pool';
const PORT = 8000;
const LABELS = { app: 'epp-test' };
const PODS = [
  { name: 'worker-a', ip: '127.0.0.21' },
  { name: 'worker-b', ip: '127.0.0.22' },
];
const MAX_BODY = 256 * 1024;
const CRD_FILE = join(
  REPO_ROOT,
  'charts/dynamo-platform/files/inference.networking.k8s.io_inferencepools.yaml',
);

let client: KubeClient;
let namespace: string;
let runtime: Runtime;
let frontend: Frontend;
let epp: Epp;
let clientBin: string;
const workers: WorkerProcess[] = [];
const stopWatch = new AbortController();
/** Pod IP → the instance id of the worker announcing it. */
const instanceOf = new Map<string, string>();

// ---- the Go client -----------------------------------------------------------------------------

interface ClientRequest {
  headers?: Record<string, string>;
  body?: string;
  chunks?: number;
  subset?: string[];
  breakAfterChunks?: number;
  responsePhases?: boolean;
}
interface HeaderOption {
  header: { key: string; rawValue?: string };
}
interface Common {
  headerMutation?: { setHeaders?: HeaderOption[]; removeHeaders?: string[] };
}
interface ClientResponse {
  requestHeaders?: { response?: Common };
  requestBody?: { response?: Common };
  responseHeaders?: object;
  responseBody?: object;
  immediateResponse?: { status: { code: string }; body?: string; details?: string };
  dynamicMetadata?: Record<string, Record<string, string>>;
}
interface ClientResult {
  responses: ClientResponse[];
  broken?: boolean;
  error?: string;
}

function runClient(
  requests: ClientRequest[],
  health?: string,
  port = epp.port,
): Promise<{ health?: string; results: ClientResult[] }> {
  const scenario = JSON.stringify({ addr: `127.0.0.1:${port}`, requests, health });
  return new Promise((resolve, reject) => {
    const child = execFile(clientBin, [], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`epp-client: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin?.end(scenario);
  });
}

const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString();

/** The destination the answers name: header and metadata must agree (the protocol's MUST). */
function destination(result: ClientResult): string | undefined {
  const last = result.responses.find((r) => r.dynamicMetadata !== undefined);
  const common = last?.requestBody?.response ?? last?.requestHeaders?.response;
  const header = common?.headerMutation?.setHeaders?.find(
    (h) => h.header.key === 'x-gateway-destination-endpoint',
  );
  const metadata = last?.dynamicMetadata?.['envoy.lb']?.['x-gateway-destination-endpoint'];
  expect(decode(header?.header.rawValue)).toBe(metadata);
  return metadata;
}

function immediate(result: ClientResult): { status: number; body: { error: { code: string } } } | undefined {
  const r = result.responses.find((x) => x.immediateResponse)?.immediateResponse;
  if (r === undefined) return undefined;
  const code: Record<string, number> = {
    BadRequest: 400,
    NotFound: 404,
    PayloadTooLarge: 413,
    ServiceUnavailable: 503,
  };
  return { status: code[r.status.code] ?? Number(r.status.code), body: JSON.parse(decode(r.body)) };
}

// ---- fixtures ----------------------------------------------------------------------------------

/** A prompt of many 64-token blocks (the mocker's block size), distinct per seed. */
function longPrompt(seed: string): string {
  const words: string[] = [];
  for (let i = 0; i < 400; i++) words.push(`${seed}${(i * 7919) % 1000}`);
  return words.join(' ');
}

function chatBody(prompt: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 4,
    ...extra,
  });
}

async function readyPod(name: string, ip: string): Promise<void> {
  await client.create(RT.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: LABELS },
    spec: { containers: [{ name: 'worker', image: 'dynamo-ts:test' }] },
  });
  const now = new Date().toISOString();
  await client.mergePatch(
    RT.pod,
    namespace,
    name,
    {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      },
    },
    'status',
  );
}

/** Sends the prompt to the worker of `ip` through the frontend (direct mode): its cache then holds it. */
async function warm(ip: string, prompt: string): Promise<void> {
  const res = await fetch(`${frontend.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-dynamo-worker-instance-id': instanceOf.get(ip) ?? '' },
    body: chatBody(prompt, { max_tokens: 2 }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.text();
}

beforeAll(async () => {
  clientBin = execFileSync(join(REPO_ROOT, 'scripts/build-epp-client.sh'), { encoding: 'utf8' }).trim();
  client = kube();
  const crd = load(readFileSync(CRD_FILE, 'utf8')) as KubeObject;
  await client.apply(RT.crd, crd);
  await eventually('the InferencePool CRD to be Established', async () => {
    const got = await client.get<
      KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
    >(RT.crd, undefined, crd.metadata.name);
    return got?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
  namespace = await newNamespace(client, 'epp');
  await eventually('the InferencePool kind to be served', () =>
    client.create(INFERENCE_POOL_RT, {
      apiVersion: 'inference.networking.k8s.io/v1',
      kind: 'InferencePool',
      metadata: { name: POOL, namespace },
      spec: {
        selector: { matchLabels: LABELS },
        targetPorts: [{ number: PORT }],
        endpointPickerRef: { name: 'mocker-epp', port: { number: 9002 }, failureMode: 'FailClose' },
      },
    }),
  );
  // No controller-manager makes the namespace's default ServiceAccount, which pod admission wants.
  await client.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
  });
  for (const pod of PODS) await readyPod(pod.name, pod.ip);

  for (const pod of PODS) {
    const w = await spawnWorker(
      dynNamespace,
      ['--engine', 'mocker', '--speedup-ratio', '20'],
      `epp-${pod.name}`,
      { POD_IP: pod.ip },
    );
    workers.push(w);
    instanceOf.set(pod.ip, w.instanceId);
  }

  runtime = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      namespace: dynNamespace,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      router: { mode: 'direct' },
    },
    runtime,
    log,
  );
  const pool = new PoolWatch(client, { namespace, name: POOL, log });
  pool.start(stopWatch.signal);
  epp = await startEpp(
    {
      host: '127.0.0.1',
      port: 0,
      healthPort: null,
      namespace: dynNamespace,
      failOpen: false,
      maxBodyBytes: MAX_BODY,
      poolEndpoints: 'workers',
    },
    runtime,
    pool,
    log,
  );
  await pool.synced;
  await eventually('both workers to be routable through the EPP', async () => {
    const { results } = await runClient([{ body: chatBody('hello') }]);
    return results[0] && destination(results[0]) !== undefined;
  });
}, 240_000);

afterAll(async () => {
  stopWatch.abort();
  await epp?.close();
  await frontend?.close();
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await runtime?.close();
  if (namespace) await client?.delete(RT.namespace, undefined, namespace);
  client?.close();
});

describe('dynamo epp (ext_proc v3) with an upstream client', () => {
  it('reports SERVING on gRPC health, NOT_FOUND for an unknown service', async () => {
    expect((await runClient([], '')).health).toBe('SERVING');
    expect((await runClient([], 'envoy.service.ext_proc.v3.ExternalProcessor')).health).toBe('SERVING');
    expect((await runClient([], 'no.such.Service')).health).toMatch(/NotFound/);
  });

  it('sends requests sharing a prefix to the pod whose worker caches it, in one chunk or several', async () => {
    const [a, b] = PODS as [(typeof PODS)[0], (typeof PODS)[0]];
    const prefixA = longPrompt('alpha');
    const prefixB = longPrompt('beta');
    await warm(a.ip, prefixA);
    await warm(b.ip, prefixB);
    // The KV events of both prefills reach the EPP's router: then every pick follows the cache.
    await eventually('the picks to follow the cached prefixes', async () => {
      const { results } = await runClient([
        { body: chatBody(`${prefixA} and then?`) },
        { body: chatBody(`${prefixB} and then?`) },
      ]);
      return (
        destination(results[0] as ClientResult) === `${a.ip}:${PORT}` &&
        destination(results[1] as ClientResult) === `${b.ip}:${PORT}`
      );
    });
    const { results } = await runClient([
      { body: chatBody(`${prefixB} another question`), chunks: 5, responsePhases: true },
      {
        body: chatBody(`${prefixA} another question`),
        chunks: 3,
        headers: { ':path': '/v1/chat/completions' },
      },
      { body: chatBody(`${prefixA} with the subset`), subset: [`${b.ip}:${PORT}`] },
      ...['one', 'two', 'three'].flatMap((q) => [
        { body: chatBody(`${prefixA} ${q}`) },
        { body: chatBody(`${prefixB} ${q}`) },
      ]),
    ]);
    const [five, three, subset, ...more] = results as [ClientResult, ClientResult, ClientResult];
    // Not luck: every pick follows the cache.
    expect(more.map(destination)).toEqual(
      ['one', 'two', 'three'].flatMap(() => [`${a.ip}:${PORT}`, `${b.ip}:${PORT}`]),
    );
    expect(five.error).toBeUndefined();
    // headers, 5 body chunks, response headers, response body: one answer each.
    expect(five.responses).toHaveLength(8);
    expect(destination(five)).toBe(`${b.ip}:${PORT}`);
    expect(destination(three)).toBe(`${a.ip}:${PORT}`);
    // The worker is named too, for a frontend in direct mode behind the Gateway.
    const headers = three.responses[3]?.requestBody?.response?.headerMutation?.setHeaders ?? [];
    expect(decode(headers.find((h) => h.header.key === 'x-dynamo-worker-instance-id')?.header.rawValue)).toBe(
      instanceOf.get(a.ip),
    );
    // The proxy's subset hint wins over the cache.
    expect(destination(subset)).toBe(`${b.ip}:${PORT}`);
  });

  it('in frontends mode answers a frontend pod and hints the worker, which that frontend then serves', async () => {
    const [a, b] = PODS as [(typeof PODS)[0], (typeof PODS)[0]];
    const port = await freePort();
    const frontendPods = [
      { name: 'frontend-a', ip: '127.0.0.31' },
      { name: 'frontend-b', ip: '127.0.0.32' },
    ];
    const fronts: Frontend[] = [];
    const runtimes: Runtime[] = [];
    const poolName = 'frontend-pool';
    const frontendLabels = { app: 'epp-test-frontend' };
    const watch = new AbortController();
    let picker: Epp | undefined;
    try {
      for (const pod of frontendPods) {
        // A runtime each (a frontend's metrics need a registry of their own).
        const rt = await createRuntime({
          log,
          etcdEndpoints: [inject('etcdEndpoint')],
          natsServer: inject('natsUrl'),
        });
        runtimes.push(rt);
        fronts.push(
          await startFrontend(
            {
              host: pod.ip,
              port,
              namespace: dynNamespace,
              migrationLimit: 0,
              busyStatusCode: 529,
              bodyLimitBytes: 1 << 20,
              router: { mode: 'kv', routeDebug: true },
              trustWorkerHint: true,
            },
            rt,
            log,
          ),
        );
        await client.create(RT.pod, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: pod.name, namespace, labels: frontendLabels },
          spec: { containers: [{ name: 'frontend', image: 'dynamo-ts:test' }] },
        });
        await client.mergePatch(
          RT.pod,
          namespace,
          pod.name,
          {
            status: {
              phase: 'Running',
              podIP: pod.ip,
              conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
            },
          },
          'status',
        );
      }
      await client.create(INFERENCE_POOL_RT, {
        apiVersion: 'inference.networking.k8s.io/v1',
        kind: 'InferencePool',
        metadata: { name: poolName, namespace },
        spec: {
          selector: { matchLabels: frontendLabels },
          targetPorts: [{ number: port }],
          endpointPickerRef: { name: 'frontend-epp', port: { number: 9002 } },
        },
      });
      const pool = new PoolWatch(client, { namespace, name: poolName, log });
      pool.start(watch.signal);
      picker = await startEpp(
        {
          host: '127.0.0.1',
          port: 0,
          healthPort: null,
          namespace: dynNamespace,
          failOpen: false,
          maxBodyBytes: MAX_BODY,
          poolEndpoints: 'frontends',
        },
        runtime,
        pool,
        log,
      );
      await pool.synced;
      const frontendAddresses = frontendPods.map((p) => `${p.ip}:${port}`);
      const hintOf = (r: ClientResult) =>
        decode(
          r.responses
            .find((x) => x.dynamicMetadata !== undefined)
            ?.requestBody?.response?.headerMutation?.setHeaders?.find(
              (h) => h.header.key === 'x-dynamo-worker-instance-id',
            )?.header.rawValue,
        );
      const pick = async (prompt: string) => {
        const { results } = await runClient([{ body: chatBody(prompt) }], undefined, picker?.port);
        return results[0] as ClientResult;
      };
      // The caches of the prefix test: the hint follows them, whatever pods the workers are in.
      const prefixA = longPrompt('alpha');
      const prefixB = longPrompt('beta');
      await eventually('the hints to follow the cached prefixes', async () => {
        return (
          hintOf(await pick(`${prefixA} via a frontend`)) === instanceOf.get(a.ip) &&
          hintOf(await pick(`${prefixB} via a frontend`)) === instanceOf.get(b.ip)
        );
      });
      const picks: ClientResult[] = [];
      for (const q of ['one', 'two', 'three', 'four'])
        picks.push(await pick(`${prefixB} ${q} via a frontend`));
      // Every answer is a Ready frontend pod; ended requests leave both at 0 in flight: taken in turn.
      const destinations = picks.map(destination);
      for (const d of destinations) expect(frontendAddresses).toContain(d);
      expect(new Set(destinations).size).toBe(2);
      expect(picks.map(hintOf)).toEqual(Array(4).fill(instanceOf.get(b.ip)));

      // As the Gateway would: the request to the answered frontend with the header mutation applied;
      // the frontend's router decides on the hinted worker alone.
      const hinted = await pick(`${prefixA} sent on`);
      const res = await fetch(`http://${destination(hinted)}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-dynamo-route-debug': '1',
          'x-dynamo-worker-instance-id': hintOf(hinted),
        },
        body: chatBody(`${prefixA} sent on`),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.text();
      const route = JSON.parse(res.headers.get('x-dynamo-route') ?? '[]') as {
        mode: string;
        chosen: string;
      }[];
      expect(route).toMatchObject([{ mode: 'kv', chosen: instanceOf.get(a.ip) }]);
      // A hint against the cache (worker a for a prompt cached on b, which the frontend's own KV routing
      // would choose): landing on a is the hint's doing.
      const crossed = await fetch(`http://${frontendAddresses[0]}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-dynamo-route-debug': '1',
          'x-dynamo-worker-instance-id': instanceOf.get(a.ip) ?? '',
        },
        body: chatBody(`${prefixB} crossed`),
      });
      expect(crossed.status).toBe(200);
      await crossed.text();
      expect(JSON.parse(crossed.headers.get('x-dynamo-route') ?? '[]')).toMatchObject([
        { chosen: instanceOf.get(a.ip) },
      ]);

      // A request the EPP does not KV-route (no body) loses a client's own hint (and token) header.
      const { results } = await runClient(
        [{ headers: { 'x-dynamo-worker-instance-id': instanceOf.get(a.ip) ?? '' } }],
        undefined,
        picker.port,
      );
      const noBody = results[0] as ClientResult;
      expect(frontendAddresses).toContain(destination(noBody));
      expect(
        noBody.responses.find((x) => x.dynamicMetadata !== undefined)?.requestHeaders?.response
          ?.headerMutation?.removeHeaders,
      ).toEqual(['x-dynamo-worker-instance-id', 'x-dynamo-worker-hint-token']);
    } finally {
      watch.abort();
      await picker?.close();
      for (const f of fronts) await f.close();
      for (const rt of runtimes) await rt.close();
      for (const pod of frontendPods) await client.delete(RT.pod, namespace, pod.name);
    }
  });

  it('answers bad input at once, per the protocol, and keeps serving after a broken stream', async () => {
    const { results } = await runClient([
      { body: '{"model": "mocker", "messages": [' },
      { body: chatBody('hi', { model: 'no-such-model' }) },
      { body: JSON.stringify({ model: MODEL, messages: 'not a list' }) },
      { body: chatBody('x'.repeat(2 * MAX_BODY)), chunks: 8 },
      { body: chatBody('hi'), subset: ['10.255.255.1:8000'] },
      { body: chatBody(longPrompt('broken')), chunks: 4, breakAfterChunks: 2 },
      { body: chatBody('still there?') },
      { body: JSON.stringify({ model: MODEL, input: 'a Responses API body: routed on load alone' }) },
    ]);
    const [notJson, unknownModel, badShape, tooLarge, noPods, broken, after, other] =
      results as ClientResult[];
    expect(destination(other as ClientResult)).toMatch(/^127\.0\.0\.2[12]:8000$/);
    expect(immediate(notJson as ClientResult)?.status).toBe(400);
    expect(immediate(notJson as ClientResult)?.body.error.code).toBe('invalid_json');
    expect(immediate(unknownModel as ClientResult)?.status).toBe(404);
    expect(immediate(badShape as ClientResult)?.body.error.code).toBe('invalid_request');
    expect(immediate(tooLarge as ClientResult)?.status).toBe(413);
    // The answer came before the whole body was sent: the client stopped at the immediate response.
    expect((tooLarge as ClientResult).responses.length).toBeLessThan(9);
    expect(immediate(noPods as ClientResult)?.status).toBe(503);
    expect(broken?.broken).toBe(true);
    expect(destination(after as ClientResult)).toMatch(/^127\.0\.0\.2[12]:8000$/);
    await eventually('the broken stream to be counted', async () => {
      const text = await runtime.metrics.registry.getSingleMetricAsString('dynamo_epp_broken_streams_total');
      return /dynamo_epp_broken_streams_total \d+/.exec(text)?.[0] !== 'dynamo_epp_broken_streams_total 0';
    });
  });

  it('no longer picks a pod that left the pool', async () => {
    const [a, b] = PODS as [(typeof PODS)[0], (typeof PODS)[0]];
    const prefixA = longPrompt('alpha');
    await client.mergePatch(RT.pod, namespace, a.name, { metadata: { labels: { app: 'elsewhere' } } });
    await eventually('requests for a cached prefix to go elsewhere', async () => {
      const { results } = await runClient([{ body: chatBody(`${prefixA} once more`) }]);
      return destination(results[0] as ClientResult) === `${b.ip}:${PORT}`;
    });
    // Every pick now, the cached prefix's included: pod a is no candidate at all.
    const { results } = await runClient(
      ['one', 'two', 'three', 'four'].map((q) => ({ body: chatBody(`${prefixA} ${q}`) })),
    );
    expect(results.map(destination)).toEqual(Array(4).fill(`${b.ip}:${PORT}`));
    await client.delete(RT.pod, namespace, b.name);
    await eventually('a pool without pods to answer 503', async () => {
      const { results } = await runClient([{ body: chatBody('anyone?') }]);
      return immediate(results[0] as ClientResult)?.status === 503;
    });
  });

  it('with fail-open, sends what it cannot KV-route to a Ready pod', async () => {
    const orphan = { pod: 'orphan', ip: '10.9.9.9', port: PORT, address: `10.9.9.9:${PORT}` };
    const open = await startEpp(
      {
        host: '127.0.0.1',
        port: 0,
        healthPort: null,
        namespace: dynNamespace,
        failOpen: true,
        maxBodyBytes: MAX_BODY,
        poolEndpoints: 'workers',
      },
      runtime,
      { endpoints: () => new Map([[orphan.ip, orphan]]), isSynced: true },
      log,
    );
    try {
      const { results } = await runClient(
        [
          { body: chatBody('no worker runs in this pool') },
          { body: chatBody('hi', { model: 'no-such-model' }) },
        ],
        undefined,
        open.port,
      );
      expect(destination(results[0] as ClientResult)).toBe(orphan.address);
      // A client error stays one.
      expect(immediate(results[1] as ClientResult)?.status).toBe(404);
    } finally {
      await open.close();
    }
  });

  it('takes a BUFFERED body up to --max-body-bytes in one message, past the 4 MiB gRPC default', async () => {
    const pod = { pod: 'big', ip: '10.9.9.8', port: PORT, address: `10.9.9.8:${PORT}` };
    const big = await startEpp(
      {
        host: '127.0.0.1',
        port: 0,
        healthPort: null,
        namespace: dynNamespace,
        failOpen: false,
        maxBodyBytes: DEFAULT_EPP_MAX_BODY_BYTES,
        poolEndpoints: 'workers',
      },
      runtime,
      { endpoints: () => new Map([[pod.ip, pod]]), isSynced: true },
      log,
    );
    try {
      // 5 MiB that is not JSON: the picker's 400, not a gRPC error of the transport; just past the
      // limit: the picker's 413.
      const { results } = await runClient(
        [
          { body: `{${'x'.repeat(5 << 20)}` },
          { body: `{${'x'.repeat(DEFAULT_EPP_MAX_BODY_BYTES + 100_000)}` },
        ],
        undefined,
        big.port,
      );
      expect(results[0]?.error).toBeUndefined();
      expect(immediate(results[0] as ClientResult)?.body.error.code).toBe('invalid_json');
      expect(immediate(results[1] as ClientResult)?.status).toBe(413);
    } finally {
      await big.close();
    }
  });

  it('runs as `dynamo epp`: gRPC health, picks, /metrics; SIGTERM stops it', async () => {
    const [a] = PODS as [(typeof PODS)[0]];
    // Pod a rejoins the pool.
    await client.mergePatch(RT.pod, namespace, a.name, { metadata: { labels: LABELS } });
    const [grpcPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const proc = await startDynamo([
      'epp',
      ...['--pool-name', POOL, '--pool-namespace', namespace, '--namespace', dynNamespace],
      ...['--host', '127.0.0.1', '--grpc-port', String(grpcPort), '--grpc-health-port', String(healthPort)],
      ...[
        '--metrics-port',
        String(metricsPort),
        '--etcd',
        inject('etcdEndpoint'),
        '--nats',
        inject('natsUrl'),
      ],
      ...['--kubeconfig', inject('kubeconfig'), '--pool-endpoints', 'workers'],
    ]);
    try {
      await eventually('the EPP process to serve', async () => {
        const { health } = await runClient([], '', healthPort);
        return health === 'SERVING';
      });
      await eventually('a pick of the cached prefix', async () => {
        const { results } = await runClient(
          [{ body: chatBody(`${longPrompt('alpha')} again`) }],
          undefined,
          grpcPort,
        );
        return destination(results[0] as ClientResult) === `${a.ip}:${PORT}`;
      });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/dynamo_epp_picks_total\{result="routed",code=""\} [1-9]/);
      expect(metrics).toMatch(/dynamo_router_/);
      expect(await proc.stop()).toBe(0);
    } finally {
      await proc.kill();
    }
  });
});
