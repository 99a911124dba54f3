// DynamoGraphDeployment and DynamoComponentDeployment v1alpha1 ⇄ v1beta1: worked examples, the round trips of every example manifest
// (ours and Dynamo's), and property tests over random valid objects of each version. The API server
// stores v1alpha1 and re-orders map keys; `viaApiServer` does the same to the object in between.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALPHA_ONLY_FIELDS,
  CONVERSION_ANNOTATION,
  convertObject,
  dcdToV1alpha1,
  dcdToV1beta1,
  dgdToV1alpha1,
  dgdToV1beta1,
  dynamoComponentDeployment,
  dynamoComponentDeploymentV1beta1,
  dynamoGraphDeployment,
  dynamoGraphDeploymentV1beta1,
} from '../../../../src/api/k8s/index.js';
import { DYNAMO_EXAMPLES, dynamoExample } from '../../../fixtures/dynamo-examples/examples.js';
import { EXAMPLE_FILES, example } from '../../operator/manifests.js';

type Json = Record<string, unknown>;

const component = (dgd: Json, name: string): Json =>
  ((dgd.spec as { components: Json[] }).components.find((c) => c.name === name) ?? {}) as Json;

/** What storing and reading back does to JSON: map keys come back sorted (lists keep their order). */
function viaApiServer<T>(v: T): T {
  if (Array.isArray(v)) return v.map(viaApiServer) as T;
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, viaApiServer((v as Json)[k])]),
    ) as T;
  }
  return v;
}

const ALPHA = 'nvidia.com/v1alpha1';
const BETA = 'nvidia.com/v1beta1';

describe('DynamoGraphDeployment conversion, worked examples', () => {
  const alpha: Json = {
    apiVersion: ALPHA,
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'disagg', namespace: 'team' },
    spec: {
      backendFramework: 'vllm',
      envs: [{ name: 'DYN_LOG', value: 'info' }],
      services: {
        Frontend: {
          componentType: 'frontend',
          replicas: 2,
          extraPodSpec: { mainContainer: { image: 'img:1', args: ['frontend'] } },
        },
        Decode: {
          componentType: 'worker',
          subComponentType: 'decode',
          envs: [{ name: 'A', value: '1' }],
          envFromSecret: 'hf-token',
          resources: { requests: { cpu: '2', memory: '4Gi', gpu: '1' }, limits: { gpu: '1' } },
          sharedMemory: { size: '1Gi' },
          scalingAdapter: { enabled: true },
          extraPodMetadata: { labels: { team: 'a' } },
          extraPodSpec: { tolerations: [{ key: 'gpu' }], mainContainer: { image: 'img:1' } },
          readinessProbe: { httpGet: { path: '/health', port: 9090 } },
        },
      },
    },
  };
  const beta: Json = {
    apiVersion: BETA,
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'disagg', namespace: 'team' },
    spec: {
      backendFramework: 'vllm',
      env: [{ name: 'DYN_LOG', value: 'info' }],
      components: [
        {
          name: 'Decode',
          type: 'decode',
          podTemplate: {
            metadata: { labels: { team: 'a' } },
            spec: {
              tolerations: [{ key: 'gpu' }],
              containers: [
                {
                  name: 'main',
                  image: 'img:1',
                  env: [{ name: 'A', value: '1' }],
                  envFrom: [{ secretRef: { name: 'hf-token' } }],
                  resources: {
                    requests: { cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '1' },
                    limits: { 'nvidia.com/gpu': '1' },
                  },
                  readinessProbe: { httpGet: { path: '/health', port: 9090 } },
                },
              ],
            },
          },
          sharedMemorySize: '1Gi',
          scalingAdapter: {},
        },
        {
          name: 'Frontend',
          type: 'frontend',
          replicas: 2,
          podTemplate: { spec: { containers: [{ name: 'main', image: 'img:1', args: ['frontend'] }] } },
        },
      ],
    },
  };

  it('writes v1alpha1 services as v1beta1 components, field for field', () => {
    expect(dgdToV1beta1(alpha)).toEqual(beta);
    expect(dynamoGraphDeploymentV1beta1.safeParse(beta).success).toBe(true);
  });

  it('writes v1beta1 components back as the same v1alpha1 services', () => {
    expect(dgdToV1alpha1(beta)).toEqual(alpha);
  });

  it('carries what v1beta1 cannot say in the annotation, and gives it back', () => {
    const withMore = structuredClone(alpha);
    const spec = withMore.spec as { services: Record<string, Json>; pvcs?: unknown };
    spec.pvcs = [{ name: 'models' }];
    spec.services.Frontend = {
      ...spec.services.Frontend,
      componentType: 'frontend',
      ingress: { enabled: true, host: 'llm.example.com' },
      volumeMounts: [{ name: 'models', mountPoint: '/models' }],
      dynamoNamespace: 'old',
      someFutureField: { x: 1 },
    };
    spec.services.Decode = { ...spec.services.Decode, componentType: 'decode' };
    delete spec.services.Decode?.subComponentType;
    const b = dgdToV1beta1(withMore);
    const stash = JSON.parse(
      ((b.metadata as Json).annotations as Record<string, string>)[CONVERSION_ANNOTATION] ?? '{}',
    );
    expect(Object.keys(stash.components.Frontend.fields).sort()).toEqual([
      'dynamoNamespace',
      'ingress',
      'volumeMounts',
    ]);
    // componentType: decode and worker + subComponentType: decode are both v1beta1 `type: decode`.
    expect(stash.components.Decode.fields).toEqual({ componentType: 'decode', subComponentType: null });
    expect(stash.spec.fields).toEqual({ pvcs: [{ name: 'models' }] });
    // An unknown field keeps its name in either version.
    expect(component(b, 'Frontend').someFutureField).toEqual({ x: 1 });
    expect(dgdToV1alpha1(viaApiServer(b))).toEqual(withMore);
  });

  it('lets an edit made in v1beta1 win over the stash, keeping the fields that have no v1beta1 home', () => {
    const a = structuredClone(alpha);
    const frontend = (a.spec as { services: Record<string, Json> }).services.Frontend as Json;
    frontend.ingress = { enabled: true, host: 'llm.example.com' };
    frontend.componentType = 'default';
    const b = dgdToV1beta1(a);
    const frontendB = component(b, 'Frontend');
    expect(frontendB.type).toBeUndefined();
    frontendB.replicas = 5;
    const back = dgdToV1alpha1(b);
    const edited = (back.spec as { services: Record<string, Json> }).services.Frontend as Json;
    expect(edited.replicas).toBe(5);
    expect(edited.ingress).toEqual({ enabled: true, host: 'llm.example.com' });
    // componentType: default came from the stash, which no longer applies to the edited component.
    expect(edited.componentType).toBeUndefined();
  });

  it('keeps the order of v1beta1 components across storage as a v1alpha1 map', () => {
    const b = structuredClone(beta);
    (b.spec as { components: Json[] }).components.reverse();
    const stored = viaApiServer(dgdToV1alpha1(b));
    expect(dgdToV1beta1(stored)).toEqual(b);
  });

  it('converts status.services and status.components', () => {
    const status = {
      state: 'successful',
      services: { Frontend: { componentKind: 'Deployment', replicas: 1 } },
    };
    const b = dgdToV1beta1({ ...alpha, status });
    expect(b.status).toEqual({ state: 'successful', components: status.services });
    expect(dgdToV1alpha1(b).status).toEqual(status);
  });

  it('refuses a v1beta1 graph with two components of one name', () => {
    const b = structuredClone(beta);
    const components = (b.spec as { components: Json[] }).components;
    components.push({ ...components[1], replicas: 3 });
    expect(() => dgdToV1alpha1(b)).toThrow('spec.components[2].name: duplicate name "Frontend"');
  });

  it('treats a component named like an Object property as any other', () => {
    const a = structuredClone(alpha);
    const services = (a.spec as { services: Record<string, Json> }).services;
    services[String('constructor')] = { componentType: 'default', replicas: 1 };
    const b = dgdToV1beta1(a);
    expect(component(b, 'constructor')).toEqual({ name: 'constructor', replicas: 1 });
    expect(dgdToV1alpha1(viaApiServer(b))).toEqual(a);
  });

  it('converts only between the two versions, of the kinds that have two', () => {
    expect(convertObject(alpha, ALPHA)).toEqual(alpha);
    expect(() => convertObject(alpha, 'nvidia.com/v2')).toThrow('cannot convert');
    expect(() => convertObject({ ...alpha, kind: 'DynamoModel' }, BETA)).toThrow(
      'kind DynamoModel has a single version',
    );
  });
});

const dgdsOf = (docs: Json[]) => docs.filter((d) => d.kind === 'DynamoGraphDeployment');
const MANIFESTS: [string, Json][] = [
  ...EXAMPLE_FILES.flatMap((f) => dgdsOf(example(f)).map((d) => [`examples/${f}`, d] as [string, Json])),
  ...DYNAMO_EXAMPLES.flatMap((f) =>
    dgdsOf(dynamoExample(f)).map((d) => [`dynamo/${f}`, d] as [string, Json]),
  ),
];

describe('every example manifest', () => {
  it('has manifests to convert', () => expect(MANIFESTS.length).toBeGreaterThan(10));

  it.each(MANIFESTS)('%s: v1alpha1 → v1beta1 (valid) → v1alpha1 gives it back', (_file, doc) => {
    const b = dgdToV1beta1(doc);
    const parsed = dynamoGraphDeploymentV1beta1.safeParse(b);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(dgdToV1alpha1(viaApiServer(b))).toEqual(doc);
  });
});

// ---- property tests -----------------------------------------------------------------------------

const name = fc.stringMatching(/^[A-Z][a-zA-Z0-9]{0,11}$/);
const str = fc.string({ minLength: 1, maxLength: 8 });
const quantity = fc.oneof(fc.nat({ max: 64 }), fc.constantFrom('500m', '2', '8Gi', '1Gi'));
const env = fc.record(
  { name: fc.constantFrom('A', 'B', 'C', 'DYN_LOG'), value: str },
  { requiredKeys: ['name'] },
);
const probe = fc.record({
  httpGet: fc.record({ path: fc.constant('/health'), port: fc.nat({ max: 9999 }) }),
});
const labels = fc.dictionary(fc.constantFrom('a', 'b', 'team'), str, { minKeys: 1 });
const container = fc.record(
  {
    image: str,
    args: fc.array(str, { maxLength: 3 }),
    command: fc.array(str, { minLength: 1, maxLength: 2 }),
    env: fc.array(env, { minLength: 1, maxLength: 2 }),
    workingDir: str,
  },
  { requiredKeys: [] },
);
const resourceItem = fc.record(
  {
    cpu: quantity,
    memory: quantity,
    gpu: quantity,
    gpuType: fc.constantFrom('nvidia.com/gpu', 'gpu.intel.com/xe'),
    custom: fc.dictionary(fc.constantFrom('ephemeral-storage', 'rdma/ib'), quantity, { minKeys: 1 }),
  },
  { requiredKeys: [] },
);

const alphaComponent = fc.record(
  {
    componentType: fc.constantFrom('frontend', 'worker', 'prefill', 'decode', 'planner', 'epp', 'default'),
    subComponentType: fc.constantFrom('prefill', 'decode', 'other'),
    replicas: fc.nat({ max: 8 }),
    resources: fc.record(
      {
        requests: resourceItem,
        limits: resourceItem,
        claims: fc.array(fc.record({ name: str }), { maxLength: 1 }),
      },
      { requiredKeys: [] },
    ),
    envs: fc.array(env, { maxLength: 3 }),
    envFromSecret: str,
    extraPodSpec: fc.record(
      {
        mainContainer: container,
        tolerations: fc.array(fc.record({ key: str }), { maxLength: 2 }),
        containers: fc.array(fc.record({ name: fc.constantFrom('sidecar', 'main'), image: str }), {
          maxLength: 2,
        }),
      },
      { requiredKeys: [] },
    ),
    extraPodMetadata: fc.record({ labels, annotations: labels }, { requiredKeys: [] }),
    livenessProbe: probe,
    readinessProbe: probe,
    scalingAdapter: fc.record({ enabled: fc.boolean() }, { requiredKeys: [] }),
    sharedMemory: fc.record({ disabled: fc.boolean(), size: quantity }, { requiredKeys: [] }),
    modelRef: fc.record({ name: str, revision: str }, { requiredKeys: ['name'] }),
    globalDynamoNamespace: fc.boolean(),
    multinode: fc.record({ nodeCount: fc.integer({ min: 2, max: 4 }) }),
    checkpoint: fc.record(
      { enabled: fc.boolean(), mode: fc.constantFrom('Auto', 'Manual') },
      { requiredKeys: [] },
    ),
    eppConfig: fc.record({ config: fc.record({ k: str }) }, { requiredKeys: [] }),
    ingress: fc.record({ enabled: fc.boolean(), host: str }, { requiredKeys: [] }),
    volumeMounts: fc.array(fc.record({ name: str, mountPoint: str }), { maxLength: 2 }),
    annotations: labels,
    labels,
    dynamoNamespace: str,
    autoscaling: fc.record({ enabled: fc.boolean() }),
    unknownField: fc.record({ x: fc.nat() }),
  },
  { requiredKeys: [] },
);

const alphaDgd = fc
  .record(
    {
      services: fc.dictionary(name, alphaComponent, { minKeys: 1, maxKeys: 4 }),
      envs: fc.array(env, { maxLength: 2 }),
      backendFramework: fc.constantFrom('onnx', 'mocker', 'vllm', 'sglang', 'trtllm'),
      pvcs: fc.array(fc.record({ name: str, create: fc.boolean() }), { maxLength: 2 }),
      restart: fc.record({ id: str }),
    },
    { requiredKeys: ['services'] },
  )
  .map((spec) => ({
    apiVersion: ALPHA,
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'g', namespace: 'ns', labels: { a: 'b' } },
    spec,
  }));

const betaContainer = fc.record(
  {
    image: str,
    args: fc.array(str, { maxLength: 3 }),
    env: fc.array(env, { maxLength: 2 }),
    envFrom: fc.array(
      fc.oneof(
        fc.record({ secretRef: fc.record({ name: str }) }),
        fc.record({ configMapRef: fc.record({ name: str }) }),
      ),
      { maxLength: 2 },
    ),
    resources: fc.record(
      {
        requests: fc.dictionary(fc.constantFrom('cpu', 'memory', 'nvidia.com/gpu', 'rdma/ib'), quantity),
        limits: fc.dictionary(fc.constantFrom('cpu', 'memory', 'nvidia.com/gpu'), quantity),
      },
      { requiredKeys: [] },
    ),
    livenessProbe: probe,
    readinessProbe: probe,
    ports: fc.array(fc.record({ containerPort: fc.nat({ max: 9999 }) }), { maxLength: 1 }),
  },
  { requiredKeys: [] },
);

const betaComponent = fc.record(
  {
    type: fc.constantFrom('frontend', 'worker', 'prefill', 'decode', 'planner', 'epp'),
    replicas: fc.nat({ max: 8 }),
    podTemplate: fc.record(
      {
        metadata: fc.record({ labels, annotations: labels }, { requiredKeys: [] }),
        spec: fc.record(
          {
            containers: fc
              .tuple(
                betaContainer,
                fc.array(fc.record({ name: fc.constant('sidecar'), image: str }), { maxLength: 1 }),
              )
              .map(([main, others]) => [{ name: 'main', ...main }, ...others]),
            nodeSelector: labels,
            volumes: fc.array(fc.record({ name: str, emptyDir: fc.constant({}) }), { maxLength: 1 }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    sharedMemorySize: fc.oneof(quantity, fc.constant('0')),
    modelRef: fc.record({ name: str }),
    scalingAdapter: fc.constant({}),
    globalDynamoNamespace: fc.boolean(),
    multinode: fc.record({ nodeCount: fc.integer({ min: 2, max: 4 }) }),
    eppConfig: fc.record({ config: fc.record({ k: str }) }),
    experimental: fc.record(
      {
        checkpoint: fc.record({ enabled: fc.boolean() }),
        gpuMemoryService: fc.record({ enabled: fc.boolean() }),
      },
      { requiredKeys: [] },
    ),
    compilationCache: fc.record({ pvcName: str }),
  },
  { requiredKeys: [] },
);

const betaDgd = fc
  .record(
    {
      components: fc.uniqueArray(fc.tuple(name, betaComponent), {
        minLength: 1,
        maxLength: 4,
        selector: ([n]) => n,
      }),
      env: fc.array(env, { maxLength: 2 }),
      backendFramework: fc.constantFrom('onnx', 'mocker', 'vllm', 'sglang', 'trtllm'),
      annotations: labels,
    },
    { requiredKeys: ['components'] },
  )
  .map(({ components, ...spec }) => ({
    apiVersion: BETA,
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'g', namespace: 'ns' },
    spec: { ...spec, components: components.map(([n, c]) => ({ name: n, ...c })) },
  }));

describe('DynamoGraphDeployment conversion, properties', () => {
  it('random objects are valid in their version', () => {
    fc.assert(fc.property(alphaDgd, (a) => dynamoGraphDeployment.safeParse(a).success));
    fc.assert(fc.property(betaDgd, (b) => dynamoGraphDeploymentV1beta1.safeParse(b).success));
  });

  // Generous bounds: 300 runs take well under a second alone, more on a busy machine.
  it('v1alpha1 → v1beta1 → v1alpha1 gives back the same object', () => {
    fc.assert(
      fc.property(alphaDgd, (a) => {
        expect(dgdToV1alpha1(viaApiServer(dgdToV1beta1(a)))).toEqual(a);
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('an edit made in v1beta1 wins, and the fields v1beta1 has no home for survive it', () => {
    fc.assert(
      fc.property(alphaDgd, fc.nat({ max: 50 }), (a, replicas) => {
        const b = viaApiServer(dgdToV1beta1(a));
        const first = (b.spec as { components: Json[] }).components[0] as Json;
        first.replicas = replicas;
        const back = dgdToV1alpha1(b);
        const name = String(first.name);
        const before = (a.spec.services as Record<string, Json>)[name] as Json;
        const after = (back.spec as { services: Record<string, Json> }).services[name] as Json;
        expect(after.replicas).toBe(replicas);
        for (const f of ALPHA_ONLY_FIELDS) expect(after[f], f).toEqual(before[f]);
      }),
      { numRuns: 200 },
    );
  }, 30_000);

  it('v1beta1 → v1alpha1 → v1beta1 gives back the same object', () => {
    fc.assert(
      fc.property(betaDgd, (b) => {
        expect(dgdToV1beta1(viaApiServer(dgdToV1alpha1(b)))).toEqual(b);
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('a v1alpha1 object converted twice the same way is the same (conversion is a function)', () => {
    fc.assert(
      fc.property(alphaDgd, (a) => {
        expect(dgdToV1beta1(a)).toEqual(dgdToV1beta1(structuredClone(a)));
      }),
    );
  });

  it('a v1beta1 object from a v1alpha1 one is valid v1beta1 once its stash is set aside', () => {
    fc.assert(
      fc.property(alphaDgd, (a) => {
        const parsed = dynamoGraphDeploymentV1beta1.safeParse(dgdToV1beta1(a));
        expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('DynamoComponentDeployment conversion', () => {
  const dcdAlpha = {
    apiVersion: ALPHA,
    kind: 'DynamoComponentDeployment',
    metadata: { name: 'g-decode', namespace: 'ns' },
    spec: {
      serviceName: 'Decode',
      backendFramework: 'vllm',
      componentType: 'decode',
      replicas: 2,
      extraPodSpec: { mainContainer: { image: 'img:1' } },
    },
    status: {
      state: 'successful',
      service: { componentKind: 'Deployment', componentName: 'g-decode', replicas: 2 },
    },
  };

  it('writes serviceName as name, the component as in a graph, and status.service as status.component', () => {
    const b = dcdToV1beta1(dcdAlpha);
    expect(b.spec).toEqual({
      name: 'Decode',
      backendFramework: 'vllm',
      type: 'decode',
      replicas: 2,
      podTemplate: { spec: { containers: [{ name: 'main', image: 'img:1' }] } },
    });
    expect(b.status).toEqual({ state: 'successful', component: dcdAlpha.status.service });
    // componentType: decode (not worker + subComponentType) comes back from the annotation.
    expect(dcdToV1alpha1(viaApiServer(b))).toEqual(dcdAlpha);
    expect(dynamoComponentDeploymentV1beta1.safeParse(b).success).toBe(true);
  });

  const alphaDcd = fc
    .tuple(
      alphaComponent,
      fc.option(name, { nil: undefined }),
      fc.option(fc.constantFrom('vllm', 'mocker'), { nil: undefined }),
    )
    .map(([component, serviceName, backendFramework]) => ({
      apiVersion: ALPHA,
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'g-x', namespace: 'ns' },
      spec: JSON.parse(JSON.stringify({ ...component, serviceName, backendFramework })) as Json,
    }));
  const betaDcd = fc
    .tuple(
      betaComponent,
      fc.option(name, { nil: undefined }),
      fc.option(fc.constantFrom('vllm', 'mocker'), { nil: undefined }),
    )
    .map(([component, n, backendFramework]) => ({
      apiVersion: BETA,
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'g-x', namespace: 'ns' },
      spec: JSON.parse(JSON.stringify({ ...component, name: n, backendFramework })) as Json,
    }));

  it('random objects are valid in their version and round-trip both ways', () => {
    fc.assert(
      fc.property(alphaDcd, (a) => {
        expect(dynamoComponentDeployment.safeParse(a).success).toBe(true);
        expect(dcdToV1alpha1(viaApiServer(dcdToV1beta1(a)))).toEqual(a);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(betaDcd, (b) => {
        expect(dynamoComponentDeploymentV1beta1.safeParse(b).success).toBe(true);
        expect(dcdToV1beta1(viaApiServer(dcdToV1alpha1(b)))).toEqual(b);
      }),
      { numRuns: 200 },
    );
  }, 30_000);
});
