// Schema parity with Dynamo v1alpha1: Dynamo's own example manifests (test/fixtures/dynamo-examples,
// verbatim) pass the webhooks and become one Deployment per service; Dynamo's fields we keep but do not
// act on are warned about by name; a service without componentType is a plain component; `epp` runs
// `dynamo epp` with its InferencePool and RBAC.
import { describe, expect, it } from 'vitest';
import {
  type DynamoGraphDeployment,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
} from '../../../src/api/k8s/index.js';
import { desiredDeployment } from '../../../src/operator/desired/component.js';
import { desiredInferencePools, EPP_RULES } from '../../../src/operator/desired/epp.js';
import { desiredComponents, desiredPlannerRbac } from '../../../src/operator/desired/graph.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';
import { AdmissionDenied } from '../../../src/operator/webhooks/admission.js';
import { DgdValidator } from '../../../src/operator/webhooks/dgd.validator.js';
import { DcdValidator } from '../../../src/operator/webhooks/other.validators.js';
import { DYNAMO_EXAMPLES, dynamoExample } from '../../fixtures/dynamo-examples/examples.js';
import { dgd } from './manifests.js';

type Obj = Record<string, unknown>;
interface Container {
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  resources?: { requests?: Obj; limits?: Obj; claims?: unknown[] };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
}
const OPTS = { etcdEndpoints: 'http://etcd:2379', natsServer: 'nats://nats:4222' };

function placed(doc: Obj): DynamoGraphDeployment {
  const parsed = dynamoGraphDeployment.parse(doc);
  return { ...parsed, metadata: { ...parsed.metadata, namespace: 'team-a', uid: 'uid-1', generation: 1 } };
}

/** The graph's Deployments, through the DCDs exactly as the operator would write and then read them. */
function deployments(graph: DynamoGraphDeployment): KubeObject[] {
  return desiredComponents(graph).map((o) => {
    const dcd = dynamoComponentDeployment.parse({
      ...o,
      metadata: { ...o.metadata, uid: `u-${o.metadata.name}` },
    });
    expect(new DcdValidator({ imageRequired: true }).validateCreate(o)).toEqual([]);
    return desiredDeployment(dcd, OPTS);
  });
}

const main = (d: KubeObject): Container =>
  (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0] as Container;
const replicas = (d: KubeObject): number => (d.spec as { replicas: number }).replicas;

describe("Dynamo's v1alpha1 examples", () => {
  it('are all there (one fixture per example file, README lists them)', () => {
    expect(DYNAMO_EXAMPLES.length).toBeGreaterThanOrEqual(19);
    for (const backend of ['mocker', 'sglang', 'trtllm', 'vllm']) {
      expect(DYNAMO_EXAMPLES.some((f) => f.startsWith(`${backend}/`))).toBe(true);
    }
  });

  it.each(DYNAMO_EXAMPLES)('%s: admitted, no field unknown, one Deployment per service', (file) => {
    const docs = dynamoExample(file);
    expect(docs).toHaveLength(1);
    const doc = docs[0] as Obj;
    const warnings = new DgdValidator({ imageRequired: true }).validateCreate(doc);
    // Every field of Dynamo's examples is modelled: none is reported unknown.
    expect(warnings.filter((w) => w.includes('unknown field'))).toEqual([]);
    const graph = placed(doc);
    const ds = deployments(graph);
    const services = Object.entries(graph.spec.services);
    expect(ds.map((d) => d.metadata.name)).toEqual(
      services.map(([name]) => `${graph.metadata.name}-${name.toLowerCase()}`),
    );
    for (const [i, [, s]] of services.entries()) {
      const d = ds[i] as KubeObject;
      expect(replicas(d)).toBe(s.replicas ?? 1);
      const c = main(d);
      expect(c.image).toBe(s.extraPodSpec?.mainContainer?.image);
      // The example's own command line runs, untouched.
      if (s.extraPodSpec?.mainContainer?.command)
        expect(c.command).toEqual(s.extraPodSpec.mainContainer.command);
      if (s.extraPodSpec?.mainContainer?.args) expect(c.args).toEqual(s.extraPodSpec.mainContainer.args);
    }
  });

  it('warn that the deprecated dynamoNamespace is ignored, naming the field', () => {
    const warnings = new DgdValidator().validateCreate(dynamoExample('vllm/disagg.yaml')[0]);
    expect(warnings).toContain(
      'spec.services.Frontend.dynamoNamespace: deprecated and ignored: the Dynamo namespace is derived from the graph',
    );
    // The DCDs carry none: DYN_NAMESPACE is the graph's.
    const graph = placed(dynamoExample('vllm/disagg.yaml')[0] as Obj);
    for (const o of desiredComponents(graph)) expect(o.spec).not.toHaveProperty('dynamoNamespace');
    const env = main(deployments(graph)[0] as KubeObject).env ?? [];
    expect(env.find((e) => e.name === 'DYN_NAMESPACE')?.value).toBe('team-a-vllm-disagg');
  });

  it("pass resources.*.custom to the container (vllm agg's ephemeral-storage)", () => {
    const [, worker] = deployments(placed(dynamoExample('vllm/agg.yaml')[0] as Obj));
    expect(main(worker as KubeObject).resources).toEqual({
      requests: { 'ephemeral-storage': '2Gi' },
      limits: { 'nvidia.com/gpu': '1' },
    });
  });

  it('epp: runs with its account, its pool and the rights to watch them; eppConfig is warned about', () => {
    const doc = dynamoExample('sglang/agg_epp.yaml')[0] as Obj;
    const warnings = new DgdValidator().validateCreate(doc);
    expect(warnings.find((w) => w.startsWith('spec.services.epp.componentType: '))).toBeUndefined();
    expect(warnings.find((w) => w.startsWith('spec.services.epp.eppConfig: '))).toMatch(/not supported/);
    const graph = placed(doc);
    const epp = deployments(graph).find((d) => d.metadata.name === 'sglang-agg-epp-epp') as KubeObject;
    expect(replicas(epp)).toBe(1);
    const pod = (epp.spec as { template: { spec: Obj } }).template.spec;
    expect(pod).toMatchObject({
      serviceAccountName: 'sglang-agg-epp-epp',
      automountServiceAccountToken: true,
    });
    const env = main(epp).env ?? [];
    expect(env.find((e) => e.name === 'DYN_EPP_POOL_NAME')?.value).toBe('sglang-agg-epp-epp');
    const rbac = desiredPlannerRbac(graph).filter((o) => o.metadata.name === 'sglang-agg-epp-epp');
    expect(rbac.map((o) => o.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding']);
    expect(rbac[1]?.rules).toEqual(EPP_RULES);
    const [pool] = desiredInferencePools(graph, []);
    expect(pool?.spec).toMatchObject({
      selector: {
        matchLabels: {
          'nvidia.com/dynamo-graph-deployment-name': 'sglang-agg-epp',
          'nvidia.com/dynamo-component-type': 'frontend',
        },
      },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: 'sglang-agg-epp-epp', port: { number: 9002 }, failureMode: 'FailClose' },
    });
  });
});

describe('componentType and the fields of Dynamo we keep', () => {
  const image = { extraPodSpec: { mainContainer: { image: 'img:1' } } };

  it('no componentType: a plain component running its image as it is (no args, no probes, no role)', () => {
    const m = dgd('plain', { services: { Sidecar: { ...image } } });
    expect(new DgdValidator().validateCreate(m)).toEqual([]);
    const [d] = deployments(placed(m));
    const c = main(d as KubeObject);
    expect(c.args).toBeUndefined();
    expect(c.command).toBeUndefined();
    expect(c.livenessProbe).toBeUndefined();
    expect(c.readinessProbe).toBeUndefined();
    expect(c.env?.some((e) => e.name === 'DYN_DISAGGREGATION_MODE')).toBe(false);
    expect(c.env?.find((e) => e.name === 'DYN_NAMESPACE')?.value).toBe('team-a-plain');
    expect(d?.metadata.labels?.['nvidia.com/dynamo-component-type']).toBe('default');
  });

  it('an unknown componentType is refused, naming the field and the values', () => {
    const m = dgd('bad', { services: { W: { componentType: 'wrker', ...image } } });
    expect(() => new DgdValidator().validateCreate(m)).toThrow(/spec\.services\.W\.componentType: .*"epp"/);
  });

  it('gpuType and claims reach the container', () => {
    const m = dgd('g', {
      services: {
        W: {
          componentType: 'worker',
          ...image,
          resources: { limits: { gpu: '1', gpuType: 'gpu.intel.com/xe' }, claims: [{ name: 'gpu' }] },
        },
      },
    });
    expect(new DgdValidator().validateCreate(m)).toEqual([]);
    const [d] = deployments(placed(m));
    expect(main(d as KubeObject).resources).toEqual({
      limits: { 'gpu.intel.com/xe': '1' },
      claims: [{ name: 'gpu' }],
    });
  });

  it('multinode, checkpoint, globalDynamoNamespace and spec.restart are kept and warned about by name', () => {
    const m = dgd('k', {
      restart: { id: 'r1' },
      services: {
        W: {
          componentType: 'worker',
          ...image,
          multinode: { nodeCount: 2 },
          checkpoint: { enabled: true, checkpointRef: 'ck' },
          globalDynamoNamespace: true,
        },
      },
    });
    const warnings = new DgdValidator().validateCreate(m);
    for (const field of ['multinode', 'checkpoint', 'globalDynamoNamespace']) {
      expect(
        warnings.find((w) => w.startsWith(`spec.services.W.${field}: not supported by dynamo-ts`)),
      ).toBeDefined();
    }
    expect(warnings).toContain('spec.restart: not supported by dynamo-ts; ignored');
    expect(warnings.filter((w) => w.includes('unknown field'))).toEqual([]);
    // Go's zero values are what Dynamo writes for "unset": no warning.
    const zero = dgd('z', {
      services: { W: { componentType: 'worker', ...image, globalDynamoNamespace: false } },
    });
    expect(new DgdValidator().validateCreate(zero)).toEqual([]);
  });

  it('a wrong type in a kept field is refused with its path', () => {
    const m = dgd('b', {
      services: { W: { componentType: 'worker', ...image, multinode: { nodeCount: 1 } } },
    });
    try {
      new DgdValidator().validateCreate(m);
      expect.unreachable('admitted');
    } catch (err) {
      expect(err).toBeInstanceOf(AdmissionDenied);
      expect((err as AdmissionDenied).reasons).toEqual([
        'spec.services.W.multinode.nodeCount: must be at least 2',
      ]);
    }
  });

  it('a DCD made by hand: Dynamo fields only (no serviceName needed), warnings for what is ignored', () => {
    const dcd = {
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'solo', namespace: 'team-a' },
      spec: { componentType: 'worker', dynamoNamespace: 'x', ...image, futureField: 1 },
    };
    expect(new DcdValidator().validateCreate(dcd)).toEqual([
      'spec.dynamoNamespace: deprecated and ignored: the Dynamo namespace is derived from the graph',
      'spec.futureField: unknown field; kept but ignored',
    ]);
    const d = desiredDeployment(dynamoComponentDeployment.parse(dcd), OPTS);
    const env = main(d).env ?? [];
    expect(env.find((e) => e.name === 'DYN_COMPONENT')?.value).toBe('solo');
    expect(env.find((e) => e.name === 'DYN_NAMESPACE')?.value).toBe('team-a-solo');
    // An epp DCD made by hand runs `dynamo epp` (no graph: no account of its own).
    const epp = { ...dcd, spec: { componentType: 'epp', replicas: 1, ...image } };
    expect(new DcdValidator().validateCreate(epp)).toEqual([]);
    const eppDeployment = desiredDeployment(dynamoComponentDeployment.parse(epp), OPTS);
    expect(replicas(eppDeployment)).toBe(1);
    expect(main(eppDeployment).args).toEqual(['epp']);
  });
});
