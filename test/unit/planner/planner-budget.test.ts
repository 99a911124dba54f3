import { describe, expect, it } from 'vitest';
import { constrainReplicas } from '../../../src/planner/budget.js';

const targetsOf = (o: ReturnType<typeof constrainReplicas>) =>
  o.kind === 'ok' ? Object.fromEntries([...o.targets].map(([k, v]) => [k, v.replicas])) : o;

describe('constrainReplicas', () => {
  it('raises to min and lowers to max, naming the constraint', () => {
    const o = constrainReplicas(
      [
        { name: 'p', wanted: 0, gpusPerReplica: 1 },
        { name: 'd', wanted: 12, gpusPerReplica: 1 },
      ],
      { minReplicas: 1, maxReplicas: 8 },
    );
    expect(targetsOf(o)).toEqual({ p: 1, d: 8 });
    expect(o.kind === 'ok' && o.targets.get('p')?.constraints).toEqual(['min_replicas']);
    expect(o.kind === 'ok' && o.targets.get('d')?.constraints).toEqual(['max_replicas']);
  });

  it('shrinks in proportion to fit the GPU budget, then hands back what is left', () => {
    // wanted 6×1 + 6×2 = 18 GPUs > 12: scale 2/3 → p 4, d 4 = 12 GPUs.
    const o = constrainReplicas(
      [
        { name: 'p', wanted: 6, gpusPerReplica: 1 },
        { name: 'd', wanted: 6, gpusPerReplica: 2 },
      ],
      { minReplicas: 1, maxReplicas: 10, maxGpuBudget: 12 },
    );
    expect(targetsOf(o)).toEqual({ p: 4, d: 4 });
    expect(o.kind === 'ok' && o.targets.get('d')?.constraints).toEqual(['gpu_budget']);
    // 5 + 5 = 10 > 9: floor(4.5) = 4 each = 8, one GPU back to either.
    const o2 = constrainReplicas(
      [
        { name: 'p', wanted: 5, gpusPerReplica: 1 },
        { name: 'd', wanted: 5, gpusPerReplica: 1 },
      ],
      { minReplicas: 1, maxReplicas: 10, maxGpuBudget: 9 },
    );
    const t = targetsOf(o2) as Record<string, number>;
    expect((t.p ?? 0) + (t.d ?? 0)).toBe(9);
  });

  it('a service in progress keeps its count and the budget fits around it', () => {
    const o = constrainReplicas(
      [
        { name: 'p', wanted: 3, gpusPerReplica: 2, fixed: true },
        { name: 'd', wanted: 8, gpusPerReplica: 1 },
      ],
      { minReplicas: 1, maxReplicas: 10, maxGpuBudget: 10 },
    );
    expect(targetsOf(o)).toEqual({ p: 3, d: 4 });
  });

  it('cannot fit the minimum: an error naming the numbers, no targets', () => {
    const o = constrainReplicas(
      [
        { name: 'prefill', wanted: 4, gpusPerReplica: 2 },
        { name: 'decode', wanted: 4, gpusPerReplica: 4 },
      ],
      { minReplicas: 1, maxReplicas: 8, maxGpuBudget: 5 },
    );
    expect(o).toEqual({
      kind: 'infeasible',
      message:
        'the minimum replicas need 6 GPUs (prefill 1 × 2 GPU + decode 1 × 4 GPU), above --max-gpu-budget 5',
    });
  });

  it('min above max is refused', () => {
    expect(constrainReplicas([], { minReplicas: 3, maxReplicas: 2 }).kind).toBe('infeasible');
  });
});
