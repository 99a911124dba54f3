// What every graph pod gets for security (DESIGN §14): non-root, no capabilities, seccomp, a read-only
// root with a writable /tmp, a service-account token for planners only, the runtime Secret with
// `--runtime-secret`, and the manifest's own settings winning field by field.
import { describe, expect, it } from 'vitest';
import {
  type DynamoComponentDeployment,
  type DynamoGraphDeployment,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
} from '../../../src/api/k8s/index.js';
import { COMMON_OPTIONS } from '../../../src/cli/command.js';
import { COMMANDS } from '../../../src/cli/commands/index.js';
import { parseOptions } from '../../../src/cli/options.js';
import { desiredDeployment, type WorkloadOptions } from '../../../src/operator/desired/component.js';
import { desiredComponents } from '../../../src/operator/desired/graph.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';

const SERVICES = {
  Frontend: { componentType: 'frontend' },
  Planner: { componentType: 'planner' },
  Prefill: { componentType: 'worker', subComponentType: 'prefill' },
  Decode: { componentType: 'worker', subComponentType: 'decode' },
};

function dgd(services: Record<string, unknown>): DynamoGraphDeployment {
  return dynamoGraphDeployment.parse({
    apiVersion: 'nvidia.com/v1alpha1',
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'g', namespace: 'team-a', uid: 'uid-g' },
    spec: { services },
  });
}

function dcds(services: Record<string, unknown> = SERVICES): DynamoComponentDeployment[] {
  return desiredComponents(dgd(services)).map((o) =>
    dynamoComponentDeployment.parse({ ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata.name}` } }),
  );
}

type Container = {
  name: string;
  env: { name: string; value?: string }[];
  securityContext: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};
type Pod = {
  metadata: { labels: Record<string, string> };
  spec: {
    automountServiceAccountToken?: boolean;
    serviceAccountName?: string;
    securityContext: Record<string, unknown>;
    containers: Container[];
    volumes?: { name: string; [k: string]: unknown }[];
  };
};
const podOf = (d: KubeObject) => (d.spec as { template: Pod }).template;
const main = (d: KubeObject): Container => {
  const c = podOf(d).spec.containers[0];
  if (!c) throw new Error('no main container');
  return c;
};
const OPTS: WorkloadOptions = { defaultImage: 'img' };

const POD_DEFAULTS = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};
const CONTAINER_DEFAULTS = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

describe('graph pods: security defaults', () => {
  it('run every kind non-root, seccomp RuntimeDefault, no capabilities, read-only root with a writable /tmp', () => {
    const all = dcds();
    expect(all.map((d) => d.spec.componentType).sort()).toEqual(['frontend', 'planner', 'worker', 'worker']);
    for (const dcd of all) {
      const d = desiredDeployment(dcd, OPTS);
      const name = dcd.metadata.name;
      expect(podOf(d).spec.securityContext, name).toEqual(POD_DEFAULTS);
      expect(main(d).securityContext, name).toEqual(CONTAINER_DEFAULTS);
      expect(main(d).volumeMounts, name).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(podOf(d).spec.volumes, name).toContainEqual({ name: 'tmp', emptyDir: {} });
      expect(podOf(d).metadata.labels['nvidia.com/dynamo-platform'], name).toBe('true');
    }
  });

  it('mount a service-account token into the planner only', () => {
    const token = Object.fromEntries(
      dcds().map((dcd) => {
        const spec = podOf(desiredDeployment(dcd, OPTS)).spec;
        return [dcd.spec.serviceName, [spec.automountServiceAccountToken, spec.serviceAccountName]];
      }),
    );
    expect(token).toEqual({
      Frontend: [false, undefined],
      Prefill: [false, undefined],
      Decode: [false, undefined],
      Planner: [true, 'g-planner'],
    });
  });

  it('without --runtime-secret: no runtime volume, no DYN_RUNTIME_SECRETS_DIR', () => {
    for (const dcd of dcds()) {
      const d = desiredDeployment(dcd, OPTS);
      expect(podOf(d).spec.volumes?.map((v) => v.name)).not.toContain('dynamo-runtime');
      expect(main(d).env.map((e) => e.name)).not.toContain('DYN_RUNTIME_SECRETS_DIR');
    }
  });

  it('with --runtime-secret: every graph pod mounts it read-only at /etc/dynamo/runtime and is pointed there', () => {
    for (const dcd of dcds()) {
      const d = desiredDeployment(dcd, { ...OPTS, runtimeSecret: 'dyn-dynamo-runtime' });
      const name = dcd.metadata.name;
      expect(main(d).env, name).toContainEqual({
        name: 'DYN_RUNTIME_SECRETS_DIR',
        value: '/etc/dynamo/runtime',
      });
      expect(main(d).volumeMounts, name).toContainEqual({
        name: 'dynamo-runtime',
        mountPath: '/etc/dynamo/runtime',
        readOnly: true,
      });
      const volume = podOf(d).spec.volumes?.find((v) => v.name === 'dynamo-runtime');
      expect(volume, name).toEqual({
        name: 'dynamo-runtime',
        projected: {
          defaultMode: 0o440,
          sources: [
            { secret: { name: 'dyn-dynamo-runtime' } },
            {
              secret: {
                name: 'dyn-dynamo-runtime-tls',
                optional: true,
                items: [
                  { key: 'ca.crt', path: 'nats-ca.crt' },
                  { key: 'tls.crt', path: 'nats-tls.crt' },
                  { key: 'tls.key', path: 'nats-tls.key' },
                  { key: 'ca.crt', path: 'etcd-ca.crt' },
                  { key: 'tls.crt', path: 'etcd-tls.crt' },
                  { key: 'tls.key', path: 'etcd-tls.key' },
                ],
              },
            },
          ],
        },
      });
    }
  });

  it("lets the manifest's own settings win, field by field, and its env and volumes replace ours", () => {
    const [worker] = dcds({
      Worker: {
        componentType: 'worker',
        envs: [{ name: 'DYN_RUNTIME_SECRETS_DIR', value: '/mine' }],
        extraPodSpec: {
          automountServiceAccountToken: true,
          securityContext: { runAsUser: 1000, fsGroup: 2000 },
          volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory' } }],
          mainContainer: {
            securityContext: { readOnlyRootFilesystem: false, capabilities: { add: ['IPC_LOCK'] } },
          },
        },
      },
    });
    if (!worker) throw new Error('no worker');
    const d = desiredDeployment(worker, { ...OPTS, runtimeSecret: 'rt' });
    expect(podOf(d).spec.automountServiceAccountToken).toBe(true);
    expect(podOf(d).spec.securityContext).toEqual({ ...POD_DEFAULTS, runAsUser: 1000, fsGroup: 2000 });
    expect(main(d).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: false,
      capabilities: { add: ['IPC_LOCK'] },
    });
    expect(main(d).env.filter((e) => e.name === 'DYN_RUNTIME_SECRETS_DIR')).toEqual([
      { name: 'DYN_RUNTIME_SECRETS_DIR', value: '/mine' },
    ]);
    // Its own `tmp` volume, once (a duplicate name would be refused by the API server).
    expect(podOf(d).spec.volumes?.filter((v) => v.name === 'tmp')).toEqual([
      { name: 'tmp', emptyDir: { medium: 'Memory' } },
    ]);
    expect(main(d).volumeMounts?.map((m) => m.name)).toEqual(['dynamo-runtime']);
  });

  it("keeps the main container's own mounts after ours; one at /tmp replaces ours", () => {
    const [worker] = dcds({
      Worker: {
        componentType: 'worker',
        extraPodSpec: {
          volumes: [
            { name: 'scratch', emptyDir: {} },
            { name: 'cfg', configMap: { name: 'cfg' } },
          ],
          mainContainer: {
            volumeMounts: [
              { name: 'scratch', mountPath: '/tmp' },
              { name: 'cfg', mountPath: '/etc/cfg' },
            ],
          },
        },
      },
    });
    if (!worker) throw new Error('no worker');
    const d = desiredDeployment(worker, { ...OPTS, runtimeSecret: 'rt' });
    expect(main(d).volumeMounts).toEqual([
      { name: 'dynamo-runtime', mountPath: '/etc/dynamo/runtime', readOnly: true },
      { name: 'scratch', mountPath: '/tmp' },
      { name: 'cfg', mountPath: '/etc/cfg' },
    ]);
  });
});

describe('dynamo operator --runtime-secret', () => {
  const options = async () => {
    const entry = COMMANDS.find((c) => c.name === 'operator');
    if (!entry) throw new Error('no operator command');
    return { ...(await entry.load()).options, ...COMMON_OPTIONS };
  };

  it('takes a Secret name from the flag or DYN_OPERATOR_RUNTIME_SECRET, the flag winning', async () => {
    const o = await options();
    const secret = (argv: string[], env: Record<string, string>) =>
      (parseOptions(o, argv, env).values as { runtimeSecret?: unknown }).runtimeSecret;
    expect(secret(['--runtime-secret', 'rt'], {})).toBe('rt');
    expect(secret([], { DYN_OPERATOR_RUNTIME_SECRET: 'from-env' })).toBe('from-env');
    expect(secret(['--runtime-secret=flag'], { DYN_OPERATOR_RUNTIME_SECRET: 'env' })).toBe('flag');
    expect(secret([], {})).toBeUndefined();
  });

  it('refuses a name that is not a Secret name, naming the flag', async () => {
    const o = await options();
    expect(() => parseOptions(o, ['--runtime-secret', 'Not_A_Name'], {})).toThrow(/runtime-secret/);
  });
});
