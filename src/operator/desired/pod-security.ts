// What every pod the operator creates for a graph gets for security (DESIGN §14), as pure functions:
//
//   pod        runAsNonRoot, runAsUser/runAsGroup/fsGroup 65532, seccompProfile RuntimeDefault (and,
//              in component.ts' podAccount, a service-account token for a graph's planner only)
//   main       allowPrivilegeEscalation false, capabilities drop ALL, readOnlyRootFilesystem, with a
//              writable emptyDir at /tmp (the only path the process writes outside its volumes)
//   runtime    with `--runtime-secret NAME`: Secret NAME read-only at /etc/dynamo/runtime and
//              DYN_RUNTIME_SECRETS_DIR pointing there (the NATS/etcd credentials, by their flat names)
//
// The user's own settings win, field by field at the top level of each securityContext: a field the
// graph sets in extraPodSpec.securityContext or mainContainer.securityContext replaces ours whole (so
// `capabilities: {add: [...]}` also drops our `drop: [ALL]`), the others stay ours.
import type { EnvVar } from '../../api/k8s/index.js';

/** The image's user (Dockerfile: `USER 65532`), numeric so the kubelet can check runAsNonRoot. */
export const POD_USER = 65532;

/** Where the runtime Secret is mounted, and the env that points the runtime at it (the shared contract). */
export const RUNTIME_SECRETS_DIR = '/etc/dynamo/runtime';
export const RUNTIME_SECRETS_VOLUME = 'dynamo-runtime';

/**
 * Optional companion of the runtime Secret: `<NAME>-tls`, a kubernetes.io/tls Secret (cert-manager's:
 * tls.crt, tls.key, ca.crt) whose files are projected under the contract's flat names for NATS and etcd.
 * Absent (the chart's own certificates sit in NAME itself), it adds nothing.
 */
export const runtimeTlsSecret = (name: string): string => `${name}-tls`;

const TLS_ITEMS = (['nats', 'etcd'] as const).flatMap((server) => [
  { key: 'ca.crt', path: `${server}-ca.crt` },
  { key: 'tls.crt', path: `${server}-tls.crt` },
  { key: 'tls.key', path: `${server}-tls.key` },
]);

export const TMP_VOLUME = 'tmp';

type Fields = Record<string, unknown>;

const asFields = (value: unknown): Fields =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : {};

export function podSecurityContext(user: unknown): Fields {
  return {
    runAsNonRoot: true,
    runAsUser: POD_USER,
    runAsGroup: POD_USER,
    // Group of mounted volumes (PVCs, the runtime Secret), so the non-root user can use them.
    fsGroup: POD_USER,
    seccompProfile: { type: 'RuntimeDefault' },
    ...asFields(user),
  };
}

export function containerSecurityContext(user: unknown): Fields {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    ...asFields(user),
  };
}

/** The volumes, main-container mounts and env every graph pod gets: /tmp, and the runtime Secret if any. */
export function securityVolumes(runtimeSecret: string | undefined): {
  volumes: Fields[];
  mounts: Fields[];
  env: EnvVar[];
} {
  const volumes: Fields[] = [{ name: TMP_VOLUME, emptyDir: {} }];
  const mounts: Fields[] = [{ name: TMP_VOLUME, mountPath: '/tmp' }];
  if (runtimeSecret === undefined) return { volumes, mounts, env: [] };
  volumes.push({
    name: RUNTIME_SECRETS_VOLUME,
    projected: {
      // Owner root, group fsGroup: readable by the pod's user, by no one else.
      defaultMode: 0o440,
      sources: [
        { secret: { name: runtimeSecret } },
        { secret: { name: runtimeTlsSecret(runtimeSecret), optional: true, items: TLS_ITEMS } },
      ],
    },
  });
  mounts.push({ name: RUNTIME_SECRETS_VOLUME, mountPath: RUNTIME_SECRETS_DIR, readOnly: true });
  return { volumes, mounts, env: [{ name: 'DYN_RUNTIME_SECRETS_DIR', value: RUNTIME_SECRETS_DIR }] };
}
