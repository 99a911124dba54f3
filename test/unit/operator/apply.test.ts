import { describe, expect, it } from 'vitest';
import { holds, quantityValue } from '../../../src/operator/reconcilers/apply.js';

describe('holds: does the stored child still say what we apply?', () => {
  const wanted = {
    metadata: { name: 'd', labels: { a: '1' } },
    spec: {
      replicas: 2,
      template: {
        spec: {
          containers: [
            {
              name: 'main',
              image: 'img:1',
              args: [],
              env: [{ name: 'X', value: '1' }],
              resources: { requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: '0.5' } },
            },
          ],
        },
      },
    },
  };
  const stored = () => ({
    metadata: { name: 'd', labels: { a: '1', extra: 'x' }, resourceVersion: '7', managedFields: [] },
    spec: {
      replicas: 2,
      strategy: { type: 'RollingUpdate' },
      template: {
        spec: {
          containers: [
            {
              name: 'main',
              image: 'img:1',
              env: [{ name: 'X', value: '1' }],
              resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '500m' } },
              terminationMessagePath: '/dev/termination-log',
            },
          ],
        },
      },
    },
    status: { readyReplicas: 2 },
  });
  const edit = (f: (s: ReturnType<typeof stored>) => void) => {
    const s = stored();
    f(s);
    return s;
  };
  const container = (s: ReturnType<typeof stored>) => {
    const c = s.spec.template.spec.containers[0];
    if (!c) throw new Error('no container');
    return c;
  };

  it('ignores defaults, status and fields of others; reads canonical quantities and dropped empties', () => {
    expect(holds(stored(), wanted)).toBe(true);
  });

  it('sees an edited image, env value or resource, and a missing or added list item', () => {
    const edits: ((s: ReturnType<typeof stored>) => void)[] = [
      (s) => {
        container(s).image = 'other';
      },
      (s) => {
        container(s).env = [{ name: 'X', value: '2' }];
      },
      (s) => {
        container(s).resources.limits.cpu = '2';
      },
      (s) => {
        container(s).env = [];
      },
      (s) => {
        container(s).env.push({ name: 'Y', value: '' });
      },
      (s) => {
        s.spec.replicas = 3;
      },
      (s) => {
        s.metadata.labels.a = '2';
      },
    ];
    for (const f of edits) expect(holds(edit(f), wanted)).toBe(false);
    expect(holds(undefined, wanted)).toBe(false);
  });

  it('compares quantities only under limits and requests', () => {
    expect(holds({ env: { value: '1' } }, { env: { value: '1.0' } })).toBe(false);
    expect(holds({ limits: { cpu: '1' } }, { limits: { cpu: '1.0' } })).toBe(true);
    expect(quantityValue('1Gi')).toBe(2 ** 30);
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue('x')).toBeUndefined();
  });
});
