// kubectl and helm, built by `make setup` next to kube-apiserver, work against the harness's API server
// through the KUBECONFIG the harness exports: what the chart's and the operator's tests will run.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { kubeTool } from '../../harness/kube-apiserver.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const exec = promisify(execFile);

describe('kubectl and helm against the harness', () => {
  const kc = new KubeConfig();
  let core: CoreV1Api;
  let namespace: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    kc.loadFromFile(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    namespace = `tools-test-${randomUUID().slice(0, 8)}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // Helm's cache, config and data stay out of $HOME.
    const helmHome = await harnessTempDir('helm-home');
    env = {
      ...process.env,
      KUBECONFIG: inject('kubeconfig'),
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    };
  });

  const kubectl = async (args: string[], input?: string) => {
    const child = exec(kubeTool('kubectl'), args, { env });
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  };
  const helm = async (args: string[]) => (await exec(kubeTool('helm'), args, { env })).stdout;

  it('kubectl talks to a server of its own version', async () => {
    const Version = z.object({ gitVersion: z.string() });
    const versions = z
      .object({ clientVersion: Version, serverVersion: Version })
      .parse(JSON.parse(await kubectl(['version', '--output=json'])));
    expect(versions.serverVersion.gitVersion).toBe(versions.clientVersion.gitVersion);
  });

  it('kubectl applies a manifest that the API server stores', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace },
      data: { key: 'value' },
    });
    expect(await kubectl(['apply', '--filename=-'], manifest)).toContain('configmap/applied created');
    const stored = await core.readNamespacedConfigMap({ name: 'applied', namespace });
    expect(stored.data).toEqual({ key: 'value' });
  });

  it('helm installs, lists and uninstalls a release', async () => {
    const chart = await harnessTempDir('chart');
    await mkdir(join(chart, 'templates'));
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
    await writeFile(join(chart, 'values.yaml'), 'greeting: hi\n');
    await writeFile(
      join(chart, 'templates/configmap.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
    );

    await helm(['install', 'probe', chart, `--namespace=${namespace}`, '--set=greeting=hello']);
    const stored = await core.readNamespacedConfigMap({ name: 'probe-greeting', namespace });
    expect(stored.data).toEqual({ greeting: 'hello' });
    expect(stored.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');

    const releases = z
      .array(z.object({ name: z.string(), status: z.string() }))
      .parse(JSON.parse(await helm(['list', `--namespace=${namespace}`, '--output=json'])));
    expect(releases).toEqual([expect.objectContaining({ name: 'probe', status: 'deployed' })]);

    await helm(['uninstall', 'probe', `--namespace=${namespace}`]);
    const gone = await core
      .readNamespacedConfigMap({ name: 'probe-greeting', namespace })
      .catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(ApiException);
    expect(gone).toMatchObject({ code: 404 });
  });
});
