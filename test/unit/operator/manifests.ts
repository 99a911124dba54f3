// Manifests shared by the unit tests of the webhooks and the integration test that sends them through
// a real API server: the examples (valid) and a suite of invalid ones, each with the message expected.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

export const REPO = join(import.meta.dirname, '../../..');

export function example(file: string): Record<string, unknown>[] {
  return loadAllYaml(readFileSync(join(REPO, 'examples', file), 'utf8')) as Record<string, unknown>[];
}

export const EXAMPLE_FILES = [
  'dgd-agg.yaml',
  'dgd-disagg.yaml',
  'dgd-kv-routed.yaml',
  'dgd-mocker-scale.yaml',
  'dgd-planner.yaml',
  'dynamo-model.yaml',
];

type Obj = Record<string, unknown>;

export function dgd(name: string, spec: Obj): Obj {
  return { apiVersion: 'nvidia.com/v1alpha1', kind: 'DynamoGraphDeployment', metadata: { name }, spec };
}

export function model(name: string, spec: Obj): Obj {
  return { apiVersion: 'nvidia.com/v1alpha1', kind: 'DynamoModel', metadata: { name }, spec };
}

const frontend = { componentType: 'frontend', extraPodSpec: { mainContainer: { image: 'dynamo-ts:test' } } };

export interface InvalidCase {
  name: string;
  manifest: Obj;
  /** A part of the denial message (it names the field path). */
  message: string;
}

/** Denied at creation. */
export const INVALID_CREATES: InvalidCase[] = [
  {
    name: 'no services',
    manifest: dgd('bad-empty', { services: {} }),
    message: 'spec.services: at least one service is required',
  },
  {
    name: 'negative replicas',
    manifest: dgd('bad-replicas', { services: { Frontend: { ...frontend, replicas: -1 } } }),
    message: 'spec.services.Frontend.replicas',
  },
  {
    name: 'ingress enabled without host',
    manifest: dgd('bad-ingress', { services: { Frontend: { ...frontend, ingress: { enabled: true } } } }),
    message: 'spec.services.Frontend.ingress.host: required when ingress.enabled is true',
  },
  {
    name: 'volume mount without mountPoint',
    manifest: dgd('bad-mount', {
      services: { Frontend: { ...frontend, volumeMounts: [{ name: 'models' }] } },
    }),
    message: 'spec.services.Frontend.volumeMounts[0].mountPoint: required',
  },
  {
    name: 'shared memory without size',
    manifest: dgd('bad-shm', { services: { Frontend: { ...frontend, sharedMemory: { disabled: false } } } }),
    message: 'spec.services.Frontend.sharedMemory.size: required',
  },
  {
    name: 'PVC to create without storageClass, size, access mode',
    manifest: dgd('bad-pvc', { pvcs: [{ name: 'models', create: true }], services: { Frontend: frontend } }),
    message: 'spec.pvcs[0].storageClass: required when create is true',
  },
  {
    name: 'replicas of the wrong type',
    manifest: dgd('bad-type', { services: { Frontend: { ...frontend, replicas: 'two' } } }),
    message: 'spec.services.Frontend.replicas',
  },
  {
    name: 'bad resource quantity',
    manifest: dgd('bad-quantity', {
      services: { Frontend: { ...frontend, resources: { requests: { memory: 'lots' } } } },
    }),
    message: 'spec.services.Frontend.resources.requests.memory',
  },
  {
    name: 'unknown componentType',
    manifest: dgd('bad-component', { services: { Frontend: { ...frontend, componentType: 'router' } } }),
    message: 'spec.services.Frontend.componentType',
  },
  {
    name: 'subComponentType contradicting componentType',
    manifest: dgd('bad-role', {
      services: { Frontend: frontend, Prefill: { componentType: 'prefill', subComponentType: 'decode' } },
    }),
    message: 'spec.services.Prefill.subComponentType: "decode" contradicts componentType "prefill"',
  },
  {
    name: 'env without name',
    manifest: dgd('bad-env', { services: { Frontend: { ...frontend, envs: [{ value: 'x' }] } } }),
    message: 'spec.services.Frontend.envs[0].name',
  },
  {
    name: 'model without modelName',
    manifest: model('bad-model', { baseModelName: 'Qwen/Qwen3-0.6B' }),
    message: 'spec.modelName',
  },
  {
    name: 'model without baseModelName',
    manifest: model('bad-model-base', { modelName: 'x' }),
    message: 'spec.baseModelName',
  },
  {
    name: 'LoRA without an s3:// or hf:// source',
    manifest: model('bad-lora', {
      modelName: 'x',
      baseModelName: 'Qwen/Qwen3-0.6B',
      modelType: 'lora',
      source: { uri: 'https://example.com/x' },
    }),
    message: 'spec.source.uri: a LoRA model needs a source URI starting with s3:// or hf://',
  },
];
