// Credentials from kubeconfig files and a pod's service account, read without @kubernetes/client-node;
// users it alone implements (an exec plugin here) still authenticate through it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCredentials } from '../../../src/operator/kube/kubeconfig.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const noEnv = { HOME: '/nonexistent' };

async function file(name: string, config: object): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(config));
  return path;
}

describe('kubeconfig credentials', () => {
  it('reads certificates (data or files relative to the kubeconfig) and a token file, reread on each call', async () => {
    await mkdir(join(dir, 'certs'));
    await writeFile(join(dir, 'certs', 'client.crt'), 'CERT');
    await writeFile(join(dir, 'token'), 'tok-1\n');
    const path = await file('config', {
      clusters: [
        {
          name: 'c',
          cluster: {
            server: 'https://10.0.0.1:6443',
            'certificate-authority-data': b64('CA'),
            'tls-server-name': 'kubernetes',
          },
        },
      ],
      users: [
        {
          name: 'u',
          user: {
            'client-certificate': 'certs/client.crt',
            'client-key-data': b64('KEY'),
            tokenFile: 'token',
          },
        },
      ],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    const creds = loadCredentials(path, noEnv);
    expect(creds.server.href).toBe('https://10.0.0.1:6443/');
    const opts = await creds.requestOptions();
    expect(String(opts.ca)).toBe('CA');
    expect(String(opts.cert)).toBe('CERT');
    expect(String(opts.key)).toBe('KEY');
    expect(opts.servername).toBe('kubernetes');
    expect(opts.rejectUnauthorized).toBeUndefined();
    expect(opts.headers).toEqual({ authorization: 'Bearer tok-1' });
    await writeFile(join(dir, 'token'), 'tok-2');
    expect((await creds.requestOptions()).headers).toEqual({ authorization: 'Bearer tok-2' });
  });

  it('merges the files of a KUBECONFIG list as kubectl does: the first to set a name wins', async () => {
    const a = await file('a', {
      clusters: [{ name: 'c', cluster: { server: 'https://first:6443', 'insecure-skip-tls-verify': true } }],
      'current-context': 'x',
    });
    const b = await file('b', {
      clusters: [{ name: 'c', cluster: { server: 'https://second:6443' } }],
      users: [{ name: 'u', user: { username: 'admin', password: 'pw' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'y',
    });
    const creds = loadCredentials(undefined, { ...noEnv, KUBECONFIG: [a, b].join(delimiter) });
    expect(creds.server.host).toBe('first:6443');
    const opts = await creds.requestOptions();
    expect(opts.rejectUnauthorized).toBe(false);
    expect(opts.auth).toBe('admin:pw');
  });

  it('names the file and field of an invalid kubeconfig, and a context that is missing', async () => {
    const bad = await file('bad', { clusters: [{ name: 'c', cluster: { server: 42 } }] });
    expect(() => loadCredentials(bad, noEnv)).toThrow(`kubeconfig ${bad}: clusters[0].cluster.server:`);
    const dangling = await file('dangling', { 'current-context': 'x' });
    expect(() => loadCredentials(dangling, noEnv)).toThrow('current-context x is not among the contexts');
  });

  it("uses the pod's service account when there is no kubeconfig, and says so when there is neither", async () => {
    await writeFile(join(dir, 'token'), 'sa-token');
    await writeFile(join(dir, 'ca.crt'), 'SA-CA');
    const env = { ...noEnv, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const creds = loadCredentials(undefined, env, dir);
    expect(creds.server.host).toBe('[fd00::1]');
    const opts = await creds.requestOptions();
    expect(String(opts.ca)).toBe('SA-CA');
    expect(opts.headers).toEqual({ authorization: 'Bearer sa-token' });
    expect(() => loadCredentials(undefined, noEnv, dir)).toThrow(/^no kubeconfig: give --kubeconfig/);
  });

  it('hands a user with an exec plugin to client-node', async () => {
    const credential = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'from-exec' },
    };
    const path = await file('exec', {
      clusters: [{ name: 'c', cluster: { server: 'https://h:6443' } }],
      users: [
        {
          name: 'u',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: process.execPath,
              args: ['-e', `process.stdout.write(${JSON.stringify(JSON.stringify(credential))})`],
              interactiveMode: 'Never',
            },
          },
        },
      ],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    const opts = await loadCredentials(path, noEnv).requestOptions();
    expect((opts.headers as Record<string, string>).Authorization).toBe('Bearer from-exec');
  });
});
