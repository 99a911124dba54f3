import { describe, expect, it } from 'vitest';
import {
  describeZodError,
  dynamoGraphDeployment,
  dynamoModel,
  fieldPath,
  quantity,
} from '../../../../src/api/k8s/index.js';
import { EXAMPLE_FILES, example } from '../../operator/manifests.js';

describe('nvidia.com/v1alpha1 schemas', () => {
  it.each(EXAMPLE_FILES)('parse the example %s', (file) => {
    for (const doc of example(file)) {
      const schema = doc.kind === 'DynamoModel' ? dynamoModel : dynamoGraphDeployment;
      const result = schema.safeParse(doc);
      expect(result.success, result.success ? '' : describeZodError(result.error).join('\n')).toBe(true);
    }
  });

  it('accept Kubernetes quantities and nothing else', () => {
    for (const ok of ['500m', '2', '8Gi', '1.5', '1e3', 4])
      expect(quantity.safeParse(ok).success, String(ok)).toBe(true);
    for (const bad of ['lots', '8 Gi', '-', -1, 1.5])
      expect(quantity.safeParse(bad).success, String(bad)).toBe(false);
  });

  it('keep fields they do not know (passed through, reported as warnings by the webhook)', () => {
    const parsed = dynamoGraphDeployment.parse({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoGraphDeployment',
      metadata: { name: 'x' },
      spec: { services: { W: { componentType: 'worker', multinode: { nodeCount: 2 } } } },
    });
    expect(parsed.spec.services.W).toMatchObject({ multinode: { nodeCount: 2 } });
  });

  it('name fields the way Kubernetes does', () => {
    expect(fieldPath(['spec', 'services', 'Frontend', 'envs', 0, 'name'])).toBe(
      'spec.services.Frontend.envs[0].name',
    );
    const r = dynamoModel.safeParse({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoModel',
      metadata: {},
      spec: {},
    });
    expect(r.success).toBe(false);
    if (!r.success) expect(describeZodError(r.error)).toContain('spec.modelName: is required');
  });
});
