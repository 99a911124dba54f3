import { describe, expect, it } from 'vitest';
import { KubeClient, parseWarning } from '../../../src/operator/kube/client.js';
import { RT } from '../../../src/operator/kube/types.js';
import { DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';

describe('kube client helpers', () => {
  it('builds REST paths for core, grouped, cluster-scoped kinds and subresources', () => {
    expect(KubeClient.path(RT.service, 'ns', 'x')).toBe('/api/v1/namespaces/ns/services/x');
    expect(KubeClient.path(RT.deployment, 'ns')).toBe('/apis/apps/v1/namespaces/ns/deployments');
    expect(KubeClient.path(RT.crd, 'ignored', 'a.b')).toBe(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b',
    );
    expect(KubeClient.path(DGD_RT, 'ns', 'g', 'status')).toBe(
      '/apis/nvidia.com/v1alpha1/namespaces/ns/dynamographdeployments/g/status',
    );
    expect(KubeClient.path(DGD_RT)).toBe('/apis/nvidia.com/v1alpha1/dynamographdeployments');
  });

  it('reads the text of a Warning header', () => {
    expect(parseWarning('299 - "spec.services.W.multinode: not supported"')).toBe(
      'spec.services.W.multinode: not supported',
    );
    expect(parseWarning('299 - "a \\"quoted\\" word"')).toBe('a "quoted" word');
    expect(parseWarning('odd')).toBe('odd');
  });
});
