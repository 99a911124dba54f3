import { describe, expect, it } from 'vitest';
import { AdmissionDenied, type AdmissionUser } from '../../../../src/operator/webhooks/admission.js';
import { DgdDefaulter } from '../../../../src/operator/webhooks/defaulters.js';
import { DgdValidator } from '../../../../src/operator/webhooks/dgd.validator.js';
import {
  DcdValidator,
  DynamoModelValidator,
  ScalingAdapterValidator,
} from '../../../../src/operator/webhooks/other.validators.js';
import { review, webhooks } from '../../../../src/operator/webhooks/registry.js';
import { dgd, EXAMPLE_FILES, example, INVALID_CREATES, model } from '../manifests.js';

const USER: AdmissionUser = { username: 'alice', isOperator: false };
const OPERATOR: AdmissionUser = { username: 'system:serviceaccount:dynamo:operator', isOperator: true };

function validatorFor(kind: unknown) {
  return kind === 'DynamoModel' ? new DynamoModelValidator() : new DgdValidator();
}

function denial(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AdmissionDenied) return err.message;
    throw err;
  }
  throw new Error('expected a denial');
}

describe('validating webhooks', () => {
  it.each(EXAMPLE_FILES)('admits the example %s without warnings', (file) => {
    for (const doc of example(file)) {
      expect(validatorFor(doc.kind).validateCreate(doc)).toEqual([]);
    }
  });

  it.each(INVALID_CREATES)('denies $name naming the field', ({ manifest, message }) => {
    expect(denial(() => validatorFor(manifest.kind).validateCreate(manifest))).toContain(message);
  });

  it('reports every PVC field that is missing', () => {
    const m = dgd('x', {
      pvcs: [{ name: 'm', create: true }],
      services: { F: { componentType: 'frontend' } },
    });
    const msg = denial(() => new DgdValidator().validateCreate(m));
    expect(msg).toContain('spec.pvcs[0].size: required when create is true');
    expect(msg).toContain('spec.pvcs[0].volumeAccessMode: required when create is true');
  });

  it('denies a service whose component name is not a DNS label', () => {
    const m = dgd('g', { services: { 'Bad.Name': { componentType: 'worker' } } });
    expect(denial(() => new DgdValidator().validateCreate(m))).toContain(
      'spec.services.Bad.Name: the component name',
    );
  });

  it('warns about unsupported and deprecated fields, and keeps them', () => {
    const m = dgd('w', {
      services: {
        W: {
          componentType: 'worker',
          multinode: { nodeCount: 2 },
          autoscaling: { enabled: true },
          surprise: 1,
        },
      },
    });
    const warnings = new DgdValidator().validateCreate(m);
    expect(
      warnings.find((w) => w.startsWith('spec.services.W.multinode: not supported by dynamo-ts; ignored')),
    ).toBeDefined();
    expect(warnings.find((w) => w.startsWith('spec.services.W.autoscaling: deprecated'))).toBeDefined();
    expect(warnings).toContain('spec.services.W.surprise: unknown field; kept but ignored');
    // Kubernetes' own free-form parts are not reported.
    const pod = dgd('p', {
      services: {
        W: {
          componentType: 'worker',
          extraPodSpec: { nodeSelector: { a: 'b' }, mainContainer: { tty: true } },
        },
      },
    });
    expect(new DgdValidator().validateCreate(pod)).toEqual([]);
  });

  it('acts on subComponentType prefill|decode of workers without a warning, and warns about any other use', () => {
    const m = dgd('roles', {
      services: {
        Frontend: { componentType: 'frontend' },
        Prefill: { componentType: 'worker', subComponentType: 'prefill' },
        Decode: { componentType: 'worker', subComponentType: 'decode' },
        NativePrefill: { componentType: 'prefill', subComponentType: 'prefill' },
        NativeDecode: { componentType: 'decode' },
        Unset: { componentType: 'worker', subComponentType: '' },
      },
    });
    expect(new DgdValidator().validateCreate(m)).toEqual([]);

    const odd = dgd('odd', {
      services: {
        Frontend: { componentType: 'frontend', subComponentType: 'prefill' },
        Worker: { componentType: 'worker', subComponentType: 'main' },
      },
    });
    expect(new DgdValidator().validateCreate(odd)).toEqual([
      'spec.services.Frontend.subComponentType: "prefill" is acted on for workers only; ignored',
      'spec.services.Worker.subComponentType: "main" not supported by dynamo-ts (only prefill, decode); ignored',
    ]);
    // The operator's own writes do not echo them; a user's update does.
    expect(new DgdValidator().validateUpdate(odd, odd, OPERATOR)).toEqual([]);
    expect(new DgdValidator().validateUpdate(odd, odd, USER)).toHaveLength(2);
  });

  describe('on update', () => {
    const base = dgd('u', {
      backendFramework: 'onnx',
      services: {
        Frontend: { componentType: 'frontend', replicas: 1 },
        Worker: { componentType: 'worker', replicas: 2, scalingAdapter: { enabled: true } },
      },
    });
    const withSpec = (patch: (spec: Record<string, unknown>) => void) => {
      const next = structuredClone(base);
      patch(next.spec as Record<string, unknown>);
      return next;
    };
    const services = (spec: Record<string, unknown>) =>
      spec.services as Record<string, Record<string, unknown>>;

    it('denies a change of backendFramework', () => {
      const next = withSpec((s) => {
        s.backendFramework = 'mocker';
      });
      expect(denial(() => new DgdValidator().validateUpdate(base, next, USER))).toContain(
        'spec.backendFramework: immutable',
      );
    });

    it('denies adding or removing a service', () => {
      const next = withSpec((s) => {
        delete services(s).Frontend;
        services(s).Planner = { componentType: 'planner' };
      });
      expect(denial(() => new DgdValidator().validateUpdate(base, next, USER))).toContain(
        'spec.services: the set of services is immutable (added Planner; removed Frontend)',
      );
    });

    it('lets only the operator change the replicas of an adapter-owned service', () => {
      const next = withSpec((s) => {
        (services(s).Worker as Record<string, unknown>).replicas = 5;
      });
      expect(denial(() => new DgdValidator().validateUpdate(base, next, USER))).toContain(
        'spec.services.Worker.replicas: owned by its DynamoGraphDeploymentScalingAdapter',
      );
      expect(new DgdValidator().validateUpdate(base, next, OPERATOR)).toEqual([]);
      const frontend = withSpec((s) => {
        (services(s).Frontend as Record<string, unknown>).replicas = 3;
      });
      expect(new DgdValidator().validateUpdate(base, frontend, USER)).toEqual([]);
    });

    it('never blocks an object being deleted', () => {
      const next = withSpec((s) => {
        s.backendFramework = 'mocker';
      });
      (next.metadata as Record<string, unknown>).deletionTimestamp = '2026-01-01T00:00:00Z';
      expect(new DgdValidator().validateUpdate(base, next, USER)).toEqual([]);
    });

    it('keeps modelType and baseModelName of a DynamoModel', () => {
      const m = model('m', { modelName: 'a', baseModelName: 'b' });
      const lora = model('m', {
        modelName: 'a',
        baseModelName: 'b',
        modelType: 'lora',
        source: { uri: 's3://x/y' },
      });
      const rebased = model('m', { modelName: 'a', baseModelName: 'c' });
      const v = new DynamoModelValidator();
      expect(denial(() => v.validateUpdate(m, lora))).toContain('spec.modelType: immutable');
      expect(denial(() => v.validateUpdate(m, rebased))).toContain('spec.baseModelName: immutable');
    });
  });
});

describe('defaulting webhook', () => {
  it('sets replicas to 1 and the compilation cache mount point', () => {
    const m = dgd('d', {
      services: {
        W: { componentType: 'worker', volumeMounts: [{ name: 'cache', useAsCompilationCache: true }] },
      },
    });
    const out = new DgdDefaulter().default(m) as { spec: { services: { W: Record<string, unknown> } } };
    expect(out.spec.services.W.replicas).toBe(1);
    expect(out.spec.services.W.volumeMounts).toEqual([
      { name: 'cache', useAsCompilationCache: true, mountPoint: '/root/.cache' },
    ]);
    expect((m.spec as { services: { W: Record<string, unknown> } }).services.W.replicas).toBeUndefined();
  });

  it('answers an AdmissionReview with a JSON patch, and none when nothing changes', () => {
    const webhook = webhooks({ defaultImage: 'dynamo-ts:test' }).find(
      (w) => w.name === 'mdynamographdeployment.nvidia.com',
    );
    if (!webhook) throw new Error('no defaulting webhook for DGDs');
    const obj = dgd('d', { services: { F: { componentType: 'frontend' } } });
    const { response } = review(webhook, { uid: 'u1', operation: 'CREATE', object: obj }, () => false);
    expect(response.allowed).toBe(true);
    expect(response.patchType).toBe('JSONPatch');
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString()) as {
      op: string;
      path: string;
      value: { services: { F: { replicas: number } } };
    }[];
    expect(patch[0]?.path).toBe('/spec');
    expect(patch[0]?.value.services.F.replicas).toBe(1);
    const again = review(
      webhook,
      { uid: 'u2', operation: 'CREATE', object: { ...obj, spec: patch[0]?.value } },
      () => false,
    );
    expect(again.response.patch).toBeUndefined();
    // Keys in another order than the schema's are no reason to patch.
    const reordered = dgd('d', { services: { F: { replicas: 1, componentType: 'frontend' } } });
    expect(
      review(webhook, { uid: 'u4', operation: 'UPDATE', object: reordered }, () => false).response.patch,
    ).toBeUndefined();
  });

  it('answers a denial with status 422 and the reasons', () => {
    const webhook = webhooks({ defaultImage: 'dynamo-ts:test' }).find(
      (w) => w.name === 'vdynamographdeployment.nvidia.com',
    );
    if (!webhook) throw new Error('no validating webhook for DGDs');
    const { response, verdict } = review(
      webhook,
      { uid: 'u3', operation: 'CREATE', object: dgd('x', { services: {} }) },
      () => false,
    );
    expect(verdict).toBe('denied');
    expect(response).toMatchObject({ uid: 'u3', allowed: false, status: { code: 422 } });
    expect(response.status?.message).toContain('spec.services: at least one service is required');
  });
});

describe('admission refuses what reconcile would refuse', () => {
  const noImage = dgd('g', {
    services: {
      Frontend: { componentType: 'frontend', extraPodSpec: { mainContainer: { image: 'dynamo-ts:1' } } },
      Worker: { componentType: 'worker' },
    },
  });

  it('requires an image per service when the operator has no --default-image', () => {
    expect(denial(() => new DgdValidator({ imageRequired: true }).validateCreate(noImage))).toBe(
      'spec.services.Worker.extraPodSpec.mainContainer.image: required: the operator runs without --default-image',
    );
    expect(
      denial(() => new DgdValidator({ imageRequired: true }).validateUpdate(noImage, noImage, USER)),
    ).toContain('spec.services.Worker.extraPodSpec.mainContainer.image');
    expect(new DgdValidator({ imageRequired: false }).validateCreate(noImage)).toEqual([]);
  });

  it('builds the webhooks from the operator options', () => {
    const validate = (options: { defaultImage?: string }) => {
      const webhook = webhooks(options).find((w) => w.name === 'vdynamographdeployment.nvidia.com');
      if (!webhook) throw new Error('no validating webhook for DGDs');
      return review(webhook, { uid: 'u', operation: 'CREATE', object: noImage }, () => false).verdict;
    };
    expect(validate({})).toBe('denied');
    expect(validate({ defaultImage: 'dynamo-ts:1' })).toBe('allowed');
  });

  it('requires an image on a DCD too', () => {
    const dcd = {
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'c', namespace: 'default' },
      spec: { componentType: 'worker', serviceName: 'Worker', dynamoNamespace: 'dynamo' },
    };
    expect(denial(() => new DcdValidator({ imageRequired: true }).validateCreate(dcd))).toContain(
      'spec.extraPodSpec.mainContainer.image: required',
    );
  });
});

describe('deletion is never blocked', () => {
  const deleting = (obj: Record<string, unknown>) => ({
    ...obj,
    metadata: {
      ...(obj.metadata as object),
      deletionTimestamp: '2026-12-02T00:00:00Z',
      finalizers: [],
    },
  });
  // Stored before a rule existed (or with the webhooks off): no longer valid by today's schema.
  const invalidGraph = deleting(dgd('g', { services: { W: { componentType: 'worker', replicas: 'two' } } }));

  it('lets an invalid graph lose its finalizers', () => {
    expect(() => new DgdValidator().validateCreate(invalidGraph)).toThrow(AdmissionDenied);
    expect(
      new DgdValidator({ imageRequired: true }).validateUpdate(invalidGraph, invalidGraph, USER),
    ).toEqual([]);
  });

  it('lets an invalid DCD, model or adapter lose its finalizers', () => {
    const dcd = deleting({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'c', namespace: 'default' },
      spec: { componentType: 42 },
    });
    expect(() => new DcdValidator().validateCreate(dcd)).toThrow(AdmissionDenied);
    expect(new DcdValidator().validateUpdate(dcd, dcd)).toEqual([]);
    const badModel = deleting(model('m', { modelType: 'lora' }));
    expect(new DynamoModelValidator().validateUpdate(badModel, badModel)).toEqual([]);
    const adapter = deleting({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoGraphDeploymentScalingAdapter',
      metadata: { name: 'a', namespace: 'default' },
      spec: {},
    });
    expect(new ScalingAdapterValidator().validateUpdate(adapter, adapter)).toEqual([]);
  });
});
