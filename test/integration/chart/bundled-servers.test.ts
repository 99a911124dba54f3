// The chart's bundled NATS and etcd as it renders them (`helm template`, defaults), run as real servers
// on loopback: the StatefulSets' own flags and the NATS ConfigMap, with the chart's generated
// certificates and passwords; then the etcd setup Job's script (files/etcd-setup.mjs) with the Job's
// env, twice. Only what a pod has that this machine has not is translated: mounted paths become local
// directories, and ports become free ones on 127.0.0.1 (the chart's certificates name 127.0.0.1 too).
// A client without the runtime Secret's files is refused; with them it works, within its key prefix.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3, type IOptions } from 'etcd3';
import { loadAll } from 'js-yaml';
import { type ConnectionOptions, connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { kubeTool, REPO_ROOT } from '../../harness/kube-apiserver.js';
import { ServerProcess, startOnFreePorts } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const exec = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts/dynamo-platform');
const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

const Obj = z.looseObject({
  kind: z.string(),
  metadata: z.object({ name: z.string() }),
  data: z.record(z.string(), z.string()).optional(),
  spec: z.unknown().optional(),
});
type Obj = z.infer<typeof Obj>;
const Container = z.object({
  command: z.array(z.string()).optional(),
  env: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).default([]),
});
const containerOf = (o: Obj) => {
  const c = z
    .object({ template: z.object({ spec: z.object({ containers: z.array(Container).min(1) }) }) })
    .parse(o.spec).template.spec.containers[0];
  if (!c) throw new Error(`${o.metadata.name}: no container`);
  return c;
};

let dir: string;
let objs: Obj[];
const servers: ServerProcess[] = [];
const get = (kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
/** A Secret's keys as files of a directory, as its volume would mount them. */
async function mountSecret(name: string, sub: string): Promise<string> {
  const target = join(dir, sub);
  await mkdir(target, { recursive: true });
  for (const [key, value] of Object.entries(get('Secret', name).data ?? {}))
    await writeFile(join(target, key), Buffer.from(value, 'base64'), { mode: 0o600 });
  return target;
}
const secretValue = (name: string, key: string) =>
  Buffer.from(get('Secret', name).data?.[key] ?? '', 'base64').toString();

beforeAll(async () => {
  dir = await harnessTempDir('chart-bundled');
  const { stdout } = await exec(kubeTool('helm'), ['template', 'dyn', CHART, '--namespace=platform'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  objs = (loadAll(stdout) as unknown[]).filter((o) => o !== null).map((o) => Obj.parse(o));
});
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('bundled etcd, as the chart runs it', () => {
  let endpoint: string;
  let runtimeDir: string;
  const setup = async () => {
    const job = containerOf(get('Job', 'dyn-dynamo-platform-etcd-setup-1'));
    const env: Record<string, string> = {};
    for (const e of job.env) env[e.name] = e.value ?? '';
    // The Job's mounts, here: the ConfigMap's script is the chart file it is made of.
    expect(job.command).toEqual(['node', '/etc/dynamo/setup/etcd-setup.mjs']);
    env.ETCD_ENDPOINTS = endpoint;
    env.DYN_RUNTIME_SECRETS_DIR = runtimeDir;
    env.ETCD_ROOT_PASSWORD_FILE = join(
      await mountSecret('dyn-dynamo-platform-credentials', 'creds'),
      'etcd-root-password',
    );
    env.DYNAMO_APP = REPO_ROOT;
    env.SETUP_TIMEOUT_MS = '20000';
    return exec(process.execPath, [join(CHART, 'files/etcd-setup.mjs')], {
      env: { PATH: process.env.PATH, ...env },
    });
  };
  const client = (options: Partial<IOptions>) =>
    new Etcd3({ hosts: endpoint, dialTimeout: 3000, ...options });
  const tls = () => ({
    rootCertificate: Buffer.from(secretValue('dyn-dynamo-runtime', 'etcd-ca.crt')),
    certChain: Buffer.from(secretValue('dyn-dynamo-runtime', 'etcd-tls.crt')),
    privateKey: Buffer.from(secretValue('dyn-dynamo-runtime', 'etcd-tls.key')),
  });
  const dynamo = () => ({
    username: secretValue('dyn-dynamo-runtime', 'etcd-user'),
    password: secretValue('dyn-dynamo-runtime', 'etcd-password'),
  });

  beforeAll(async () => {
    const tlsDir = await mountSecret('dyn-dynamo-platform-etcd-tls', 'etcd-tls');
    runtimeDir = await mountSecret('dyn-dynamo-runtime', 'runtime');
    // Fresh ports (and a fresh data directory) again if one was taken before etcd bound it.
    let attempt = 0;
    await startOnFreePorts(3, async ([client, peer, metrics]) => {
      const data = join(dir, `etcd-data-${++attempt}`);
      endpoint = `https://127.0.0.1:${client}`;
      const args = (containerOf(get('StatefulSet', 'dyn-dynamo-platform-etcd')).command ?? [])
        .slice(1)
        .map((a) =>
          a
            .replace('/var/lib/etcd', data)
            .replace('/etc/etcd/tls', tlsDir)
            .replace(/^(--listen-client-urls=https:\/\/)0\.0\.0\.0:2379$/, `$1127.0.0.1:${client}`)
            .replace(/^(--advertise-client-urls=https:\/\/).*$/, `$1127.0.0.1:${client}`)
            .replaceAll('127.0.0.1:2380', `127.0.0.1:${peer}`)
            .replace('0.0.0.0:2381', `127.0.0.1:${metrics}`),
        );
      expect(args).toContain('--client-cert-auth');
      const server = new ServerProcess({
        name: 'chart-etcd',
        command: ETCD_BIN,
        args,
        logFile: join(dir, 'etcd.log'),
        ready: async () =>
          (await fetch(`http://127.0.0.1:${metrics}/health`).catch(() => undefined))?.ok === true,
      });
      servers.push(server);
      await server.start();
    });
  });

  it('the setup Job enables auth, and running it again changes nothing', async () => {
    const first = await setup();
    expect(first.stdout).toContain('etcd auth enabled; user dynamo may read and write v1/');
    const again = await setup();
    expect(again.stdout).toContain('etcd auth enabled');
    // Passwords are never printed.
    expect(first.stdout + first.stderr + again.stdout + again.stderr).not.toContain(dynamo().password);
  });

  it('refuses a client without a certificate of the CA, and a wrong password', async () => {
    const anonymous = client({});
    await expect(anonymous.put('v1/instances/x').value('1')).rejects.toThrow();
    anonymous.close();
    const wrong = client({ credentials: tls(), auth: { ...dynamo(), password: 'not-it' } });
    await expect(wrong.put('v1/instances/x').value('1')).rejects.toThrow(/authentication failed/i);
    wrong.close();
  });

  it("serves the runtime's credentials within its prefix only", async () => {
    const c = client({ credentials: tls(), auth: dynamo() });
    try {
      await c.put('v1/instances/ns/c/e/1').value('hello');
      expect(await c.get('v1/instances/ns/c/e/1').string()).toBe('hello');
      // What discovery does: keys under a lease, and a watch of the prefix.
      const watcher = await c.watch().prefix('v1/mdc/').create();
      const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.key.toString())));
      const lease = c.lease(10);
      await lease.put('v1/mdc/ns/c/e/1').value('card').exec();
      expect(await seen).toBe('v1/mdc/ns/c/e/1');
      await watcher.cancel();
      await lease.revoke();
      await expect(c.put('elsewhere').value('1')).rejects.toThrow(/permission denied/i);
      await expect(c.getRoles()).rejects.toThrow(/permission denied/i);
    } finally {
      c.close();
    }
  });
});

describe('bundled NATS, as the chart runs it', () => {
  let url: string;
  const ca = () => secretValue('dyn-dynamo-runtime', 'nats-ca.crt');
  const tls = () => ({
    ca: ca(),
    cert: secretValue('dyn-dynamo-runtime', 'nats-tls.crt'),
    key: secretValue('dyn-dynamo-runtime', 'nats-tls.key'),
  });
  const creds = () => ({
    user: secretValue('dyn-dynamo-runtime', 'nats-user'),
    pass: secretValue('dyn-dynamo-runtime', 'nats-password'),
  });
  const attempt = async (options: ConnectionOptions) => {
    const nc = await connect({ servers: url, reconnect: false, timeout: 3000, ...options });
    await nc.flush();
    await nc.close();
  };

  beforeAll(async () => {
    const tlsDir = await mountSecret('dyn-dynamo-platform-nats-tls', 'nats-tls');
    const conf = get('ConfigMap', 'dyn-dynamo-platform-nats').data?.['nats.conf'] ?? '';
    const container = containerOf(get('StatefulSet', 'dyn-dynamo-platform-nats'));
    const env: Record<string, string> = { NATS_PASSWORD: creds().pass };
    for (const e of container.env) if (e.value !== undefined) env[e.name] = e.value;
    // Fresh ports again if one was taken before nats-server bound it.
    await startOnFreePorts(2, async ([client, monitor]) => {
      url = `nats://127.0.0.1:${client}`;
      const file = join(dir, 'nats.conf');
      await writeFile(
        file,
        conf
          .replace('port: 4222', `port: ${client}\nhost: 127.0.0.1`)
          .replace('http_port: 8222', `http: "127.0.0.1:${monitor}"`)
          .replace('"/data"', JSON.stringify(join(dir, 'nats-data')))
          .replaceAll('/etc/nats/tls', tlsDir),
      );
      const server = new ServerProcess({
        name: 'chart-nats',
        command: NATS_BIN,
        args: ['--config', file],
        env: { ...process.env, ...env },
        logFile: join(dir, 'nats.log'),
        ready: async () =>
          (await fetch(`http://127.0.0.1:${monitor}/healthz`).catch(() => undefined))?.ok === true,
      });
      servers.push(server);
      await server.start();
    });
  });

  it('refuses a client without TLS, without a client certificate, or without the password', async () => {
    await expect(attempt({})).rejects.toThrow();
    await expect(attempt({ tls: { ca: ca() }, ...creds() })).rejects.toThrow();
    await expect(attempt({ tls: tls() })).rejects.toThrow(/authorization/i);
    await expect(attempt({ tls: tls(), user: creds().user, pass: 'not-it' })).rejects.toThrow(
      /authorization/i,
    );
  });

  it('carries messages for a client with the runtime Secret’s files', async () => {
    const nc = await connect({ servers: url, reconnect: false, timeout: 3000, tls: tls(), ...creds() });
    try {
      const sub = nc.subscribe('dynamo.ns.c.e.1', { max: 1 });
      nc.publish('dynamo.ns.c.e.1', new TextEncoder().encode('hi'));
      for await (const m of sub) expect(new TextDecoder().decode(m.data)).toBe('hi');
      const jsm = await nc.jetstreamManager();
      expect((await jsm.getAccountInfo()).limits).toBeDefined();
    } finally {
      await nc.close();
    }
  });
});
