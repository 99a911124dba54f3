import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGone, KubeClient, parseWarning } from '../../../src/operator/kube/client.js';
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

/** A server that reads requests and never answers (an API server that hangs), and a client of it. */
async function hangingServer(callTimeoutMs?: number) {
  const received: IncomingMessage[] = [];
  const closed: string[] = [];
  const server = createServer((req) => {
    received.push(req);
    req.socket.on('close', () => closed.push(req.url ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'kube-client-'));
  const file = join(dir, 'kubeconfig');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const client = KubeClient.fromKubeconfig(file, 'test', { callTimeoutMs });
  return {
    client,
    received,
    closed,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('kube client deadlines', () => {
  it('gives up on a call the server does not answer within the per-call deadline', async () => {
    const s = await hangingServer(200);
    try {
      await expect(s.client.get(RT.lease, 'ns', 'l')).rejects.toThrow(
        'GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: no answer within 200 ms',
      );
      // A call may name its own deadline.
      await expect(s.client.request('GET', '/version', { timeoutMs: 50 })).rejects.toThrow(
        'no answer within 50 ms',
      );
      expect(s.received.map((r) => r.url)).toEqual([
        '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l',
        '/version',
      ]);
    } finally {
      await s.close();
    }
  });

  it("stops a call when the caller's signal fires, with its reason, and closes the connection", async () => {
    const s = await hangingServer(); // default deadline: far away
    try {
      const leading = new AbortController();
      const call = s.client.mergePatch(RT.lease, 'ns', 'l', { spec: {} }, undefined, {
        signal: leading.signal,
      });
      await expect.poll(() => s.received.length).toBe(1);
      leading.abort(new Error('leadership lost'));
      await expect(call).rejects.toThrow(/aborted \(leadership lost\)/);
      // The request is torn down, not left to finish on the server later.
      await expect.poll(() => s.closed.length).toBe(1);
      // An already aborted signal sends nothing.
      await expect(s.client.get(RT.lease, 'ns', 'l', { signal: leading.signal })).rejects.toThrow(/aborted/);
      expect(s.received).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

/** A fake API server answering lists of `total` items in pages; `gone(token, attempt)` answers 410 Expired. */
async function pagingServer(
  total: number,
  pageSize: number,
  gone: (token: string, attempt: number) => boolean,
) {
  const requests: string[] = [];
  const attempts = new Map<string, number>();
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const limit = Number(url.searchParams.get('limit'));
    const token = url.searchParams.get('continue') ?? '';
    const attempt = (attempts.get(token) ?? 0) + 1;
    attempts.set(token, attempt);
    res.setHeader('content-type', 'application/json');
    if (token !== '' && gone(token, attempt)) {
      res.statusCode = 410;
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'continue expired' }));
      return;
    }
    const from = token === '' ? 0 : Number(token);
    const to = Math.min(from + limit, total);
    res.end(
      JSON.stringify({
        metadata: { resourceVersion: '42', ...(to < total ? { continue: String(to) } : {}) },
        items: Array.from({ length: to - from }, (_, i) => ({ metadata: { name: `s${from + i}` } })),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'kube-client-'));
  const file = join(dir, 'kubeconfig');
  await writeFile(
    file,
    JSON.stringify({
      clusters: [
        { name: 'c', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } },
      ],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const client = KubeClient.fromKubeconfig(file, 'test', { listPageSize: pageSize });
  return {
    client,
    requests,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('kube client lists', () => {
  const path = '/api/v1/namespaces/ns/services';

  it('pages with limit and follows continue tokens until the last page', async () => {
    const s = await pagingServer(5, 2, () => false);
    try {
      const list = await s.client.list(RT.service, { namespace: 'ns' });
      expect(list.items.map((o) => o.metadata.name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
      expect(list.items.every((o) => o.apiVersion === 'v1' && o.kind === 'Service')).toBe(true);
      expect(list.resourceVersion).toBe('42');
      expect(s.requests).toEqual([
        `${path}?limit=2`,
        `${path}?limit=2&continue=2`,
        `${path}?limit=2&continue=4`,
      ]);
    } finally {
      await s.close();
    }
  });

  it('restarts the list once when a continue token has expired (410)', async () => {
    const s = await pagingServer(5, 2, (token, attempt) => token === '4' && attempt === 1);
    try {
      const list = await s.client.list(RT.service, { namespace: 'ns' });
      // The pages before the 410 are dropped, not kept twice.
      expect(list.items.map((o) => o.metadata.name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
      expect(s.requests).toEqual([
        `${path}?limit=2`,
        `${path}?limit=2&continue=2`,
        `${path}?limit=2&continue=4`,
        `${path}?limit=2`,
        `${path}?limit=2&continue=2`,
        `${path}?limit=2&continue=4`,
      ]);
    } finally {
      await s.close();
    }
  });

  it('gives up with the 410 when the restarted list expires too', async () => {
    const s = await pagingServer(5, 2, (token) => token === '2');
    try {
      const err = await s.client.list(RT.service, { namespace: 'ns' }).catch((e: unknown) => e);
      expect(isGone(err)).toBe(true);
      expect(s.requests).toHaveLength(4); // first page, 410, first page again, 410
    } finally {
      await s.close();
    }
  });
});
