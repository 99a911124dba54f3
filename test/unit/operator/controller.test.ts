import { describe, expect, it } from 'vitest';
import { ownerKey, specChanged } from '../../../src/operator/controller.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';

const obj = (meta: Partial<KubeObject['metadata']>, status?: unknown): KubeObject => ({
  apiVersion: 'nvidia.com/v1alpha1',
  kind: 'DynamoGraphDeployment',
  metadata: { name: 'g', namespace: 'ns', uid: 'u', generation: 1, ...meta },
  ...(status ? { status } : {}),
});

describe('controller wiring', () => {
  it('ignores updates of status alone, not of spec, finalizers, labels or deletion', () => {
    const base = obj({ resourceVersion: '1' });
    expect(specChanged(obj({ resourceVersion: '2' }, { state: 'pending' }), base)).toBe(false);
    expect(specChanged(obj({ generation: 2 }), base)).toBe(true);
    expect(specChanged(obj({ finalizers: ['nvidia.com/finalizer'] }), base)).toBe(true);
    expect(specChanged(obj({ labels: { a: 'b' } }), base)).toBe(true);
    expect(specChanged(obj({ deletionTimestamp: '2026-01-01T00:00:00Z' }), base)).toBe(true);
  });

  it('maps a child to its controlling owner of a kind', () => {
    const child: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'g-worker',
        namespace: 'ns',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Other', name: 'x', uid: '1', controller: false },
          {
            apiVersion: 'nvidia.com/v1alpha1',
            kind: 'DynamoComponentDeployment',
            name: 'g-worker',
            uid: '2',
            controller: true,
          },
        ],
      },
    };
    expect(ownerKey('DynamoComponentDeployment')(child)).toEqual(['ns/g-worker']);
    expect(ownerKey('DynamoGraphDeployment')(child)).toEqual([]);
  });
});
