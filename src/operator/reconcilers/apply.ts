// Idempotent writes of children, drift repaired. A child is server-side applied (field manager
// `dynamo-operator`, force) with the hash of what was applied; the apply is skipped when the cached
// child already holds every field we would apply with the same value (`holds`), so a steady-state
// reconcile costs no request, while a field we own that someone else changed (a `kubectl edit` of the
// image, env, resources) differs and is applied back. The hash is in the comparison too: a field we
// stopped setting is not in `desired` any more, but the new hash still differs, so the apply that
// removes it is made.
import { createHash } from 'node:crypto';
import { API_GROUP } from '../../api/k8s/index.js';
import type { CallOptions, KubeClient } from '../kube/client.js';
import type { KubeObject, ResourceType } from '../kube/types.js';

export const APPLIED_HASH = `${API_GROUP}/applied-hash`;

export function hashOf(obj: unknown): string {
  return createHash('sha256').update(JSON.stringify(obj)).digest('hex').slice(0, 20);
}

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const SCALE: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A resource quantity's value; the API server stores its canonical form (`1000m` → `1`, `1024Mi` → `1Gi`). */
export function quantityValue(q: string | number): number | undefined {
  if (typeof q === 'number') return q;
  const m = QUANTITY.exec(q);
  return m ? Number(m[1]) * (m[2] ? (SCALE[m[2]] ?? 1) : 1) : undefined;
}

/** What the API server drops when it stores an object (omitempty): absent there means this here. */
const isEmpty = (v: unknown): boolean =>
  v === undefined ||
  v === null ||
  v === '' ||
  v === 0 ||
  v === false ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/**
 * True when `stored` holds every field of `wanted` with the same value: fields the API server or
 * others added (defaults, status, other managers') are ignored; lists compare item by item (same
 * length); values under `limits`/`requests` compare as quantities.
 */
export function holds(stored: unknown, wanted: unknown, quantities = false): boolean {
  if (stored === undefined && isEmpty(wanted)) return true;
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(stored) &&
      stored.length === wanted.length &&
      wanted.every((w, i) => holds(stored[i], w, quantities))
    );
  }
  if (typeof wanted === 'object' && wanted !== null) {
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return false;
    const s = stored as Record<string, unknown>;
    return Object.entries(wanted).every(([k, w]) =>
      holds(s[k], w, quantities || k === 'limits' || k === 'requests'),
    );
  }
  if (quantities && (typeof wanted === 'string' || typeof wanted === 'number')) {
    const [a, b] = [quantityValue(wanted), quantityValue(stored as string | number)];
    if (a !== undefined && b !== undefined) return Math.abs(a - b) <= Math.abs(a) * 1e-9;
  }
  return stored === wanted;
}

/** Applies `desired` unless `current` already holds it; returns the stored object, or undefined if skipped. */
export async function applyChild(
  client: KubeClient,
  rt: ResourceType,
  desired: KubeObject,
  current: KubeObject | undefined,
  opts: CallOptions = {},
): Promise<KubeObject | undefined> {
  // A child being deleted is left alone: its deletion event brings us back to create it anew.
  if (current?.metadata.deletionTimestamp) return undefined;
  const body: KubeObject = {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...(desired.metadata.annotations ?? {}), [APPLIED_HASH]: hashOf(desired) },
    },
  };
  if (current && holds(current, body)) return undefined;
  return client.apply(rt, body, opts);
}

/** True when `obj` is controlled by the owner with this uid. */
export const ownedBy = (obj: KubeObject, uid: string | undefined): boolean =>
  uid !== undefined &&
  (obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
