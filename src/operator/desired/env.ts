// Env lists as the pods get them: the graph's, the service's and the operator's own, merged by name.
import type { EnvVar } from '../../api/k8s/index.js';

/** Env entries by name, later ones winning in place (the API server would reject duplicates in an apply). */
export function mergeEnv(...lists: (readonly EnvVar[] | undefined)[]): EnvVar[] {
  const out = new Map<string, EnvVar>();
  for (const list of lists) for (const e of list ?? []) out.set(e.name, e);
  return [...out.values()];
}
