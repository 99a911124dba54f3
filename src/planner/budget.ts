// CONSTRAIN: the replicas each service wants, bounded by --min-replicas / --max-replicas and by a total
// GPU budget over the services the planner sizes (each replica costs the service's gpusPerReplica).
// Pure. When even the minimums do not fit the budget the answer is an error and no target at all: the
// planner scales nothing rather than pick which service to starve.
import type { Constraint } from './reasons.js';

export interface ReplicaLimits {
  minReplicas: number;
  maxReplicas: number;
  /** Total GPUs of the sized services; undefined: no budget. */
  maxGpuBudget?: number | undefined;
}

export interface ServiceWant {
  name: string;
  /** Replicas wanted (the proposal, or the current count for a service not being changed). */
  wanted: number;
  gpusPerReplica: number;
  /** A service whose count must not move (its previous action is in progress): kept as wanted. */
  fixed?: boolean;
}

export type ConstrainOutcome =
  | { kind: 'ok'; targets: Map<string, { replicas: number; constraints: Constraint[] }> }
  | { kind: 'infeasible'; message: string };

export function constrainReplicas(wants: readonly ServiceWant[], limits: ReplicaLimits): ConstrainOutcome {
  if (limits.minReplicas > limits.maxReplicas)
    return {
      kind: 'infeasible',
      message: `--min-replicas ${limits.minReplicas} is above --max-replicas ${limits.maxReplicas}`,
    };
  const targets = new Map<string, { replicas: number; constraints: Constraint[] }>();
  for (const w of wants) {
    const constraints: Constraint[] = [];
    let replicas = w.wanted;
    if (!w.fixed) {
      if (replicas < limits.minReplicas) {
        replicas = limits.minReplicas;
        constraints.push('min_replicas');
      } else if (replicas > limits.maxReplicas) {
        replicas = limits.maxReplicas;
        constraints.push('max_replicas');
      }
    }
    targets.set(w.name, { replicas, constraints });
  }
  const budget = limits.maxGpuBudget;
  if (budget === undefined) return { kind: 'ok', targets };

  const floorOf = (w: ServiceWant) => (w.fixed ? w.wanted : limits.minReplicas);
  const minimum = wants.reduce((sum, w) => sum + floorOf(w) * w.gpusPerReplica, 0);
  if (minimum > budget) {
    const parts = wants.map((w) => `${w.name} ${floorOf(w)} × ${w.gpusPerReplica} GPU`).join(' + ');
    return {
      kind: 'infeasible',
      message: `the minimum replicas need ${minimum} GPUs (${parts}), above --max-gpu-budget ${budget}`,
    };
  }
  const gpus = () =>
    wants.reduce((sum, w) => sum + (targets.get(w.name)?.replicas ?? 0) * w.gpusPerReplica, 0);
  const total = gpus();
  if (total <= budget) return { kind: 'ok', targets };

  // Over budget: shrink the movable services in proportion, never below their floor, then hand the
  // GPUs left back one replica at a time to the service furthest below what it wanted.
  const scale =
    (budget - wants.filter((w) => w.fixed).reduce((s, w) => s + w.wanted * w.gpusPerReplica, 0)) /
    wants
      .filter((w) => !w.fixed)
      .reduce((s, w) => s + (targets.get(w.name)?.replicas ?? 0) * w.gpusPerReplica, 0);
  const desired = new Map<string, number>();
  for (const w of wants) {
    const t = targets.get(w.name);
    if (t === undefined || w.fixed) continue;
    desired.set(w.name, t.replicas);
    const shrunk = Math.max(limits.minReplicas, Math.floor(t.replicas * scale));
    if (shrunk < t.replicas) {
      t.replicas = shrunk;
      t.constraints.push('gpu_budget');
    }
  }
  for (;;) {
    const left = budget - gpus();
    let best: ServiceWant | undefined;
    let bestShortfall = 0;
    for (const w of wants) {
      const t = targets.get(w.name);
      const want = desired.get(w.name);
      if (t === undefined || want === undefined || w.gpusPerReplica > left || t.replicas >= want) continue;
      const shortfall = (want - t.replicas) / want;
      if (shortfall > bestShortfall) {
        best = w;
        bestShortfall = shortfall;
      }
    }
    if (best === undefined) break;
    const t = targets.get(best.name);
    if (t !== undefined) t.replicas++;
  }
  return { kind: 'ok', targets };
}
