import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EtcdServer } from '../../harness/etcd-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const clients: Etcd3[] = [];
function client(endpoint: string): Etcd3 {
  const c = new Etcd3({ hosts: endpoint });
  clients.push(c);
  return c;
}
afterAll(() => {
  for (const c of clients) c.close();
});

describe('harness etcd', () => {
  it('puts, gets and watches keys', async () => {
    const etcd = client(inject('etcdEndpoint'));
    const prefix = `harness-test/${process.pid}/`;
    const watcher = await etcd.watch().prefix(prefix).create();
    const seen: string[] = [];
    const twoPuts = new Promise<void>((resolve) => {
      watcher.on('put', (kv) => {
        seen.push(`${kv.key.toString()}=${kv.value.toString()}`);
        if (seen.length === 2) resolve();
      });
    });
    await etcd.put(`${prefix}a`).value('1');
    await etcd.put(`${prefix}b`).value('2');
    await twoPuts;
    await watcher.cancel();
    expect(seen).toEqual([`${prefix}a=1`, `${prefix}b=2`]);
    expect(await etcd.get(`${prefix}a`).string()).toBe('1');
    expect(await etcd.getAll().prefix(prefix).keys()).toEqual([`${prefix}a`, `${prefix}b`]);
  });

  it('removes a key when its lease is no longer kept alive', async () => {
    const etcd = client(inject('etcdEndpoint'));
    const key = `harness-test/${process.pid}/leased`;
    const lease = etcd.lease(2, { autoKeepAlive: false });
    await lease.put(key).value('alive');
    expect(await etcd.get(key).string()).toBe('alive');
    const watcher = await etcd.watch().key(key).create();
    const deleted = new Promise<void>((resolve) => watcher.on('delete', () => resolve()));
    await deleted; // the lease expires on the server: no keep-alive was ever sent
    await watcher.cancel();
    expect(await etcd.get(key).string()).toBeNull();
  });

  it('keeps data across a restart and clients reconnect', async () => {
    const server = new EtcdServer(await harnessTempDir('etcd-restart'));
    await server.start();
    try {
      const etcd = client(server.endpoint);
      await etcd.put('survives').value('yes');
      await server.restart();
      expect(await etcd.get('survives').string()).toBe('yes');
      await etcd.put('after').value('restart');
      expect(await etcd.get('after').string()).toBe('restart');
    } finally {
      await server.stop();
    }
  });
});
