// Starts the shared services of the integration tests once per run: a real etcd and a real NATS
// (JetStream on), each on free loopback ports with its data and log in one temp directory. Tests
// reach them through `inject('etcdEndpoint')` / `inject('natsUrl')`. The directory is removed at the
// end unless a test failed (see mark-failures.ts) or DYN_KEEP_HARNESS=1: then its path is printed
// so the servers' logs can be read.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EtcdServer } from './etcd-server.js';
import { NatsServer } from './nats-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
    natsUrl: string;
    harnessDir: string;
  }
}

export const FAILURE_MARKER = 'FAILED';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'dynamo-harness-'));
  const etcd = new EtcdServer(join(dir, 'etcd'));
  const nats = new NatsServer(join(dir, 'nats'));
  await Promise.all([etcd.start(), nats.start()]);
  project.provide('etcdEndpoint', etcd.endpoint);
  project.provide('natsUrl', nats.url);
  project.provide('harnessDir', dir);
  // Child processes started by tests (workers, frontends) find the services the way pods do.
  process.env.ETCD_ENDPOINTS = etcd.endpoint;
  process.env.NATS_SERVER = nats.url;

  return async () => {
    await Promise.all([etcd.stop(), nats.stop()]);
    if (existsSync(join(dir, FAILURE_MARKER)) || process.env.DYN_KEEP_HARNESS === '1') {
      console.error(`[harness] kept service logs in ${dir} (etcd/etcd.log, nats/nats.log)`);
    } else {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
