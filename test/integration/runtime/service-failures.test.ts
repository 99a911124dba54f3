// The runtime across failures of the services it stands on, each on a private server so the shared
// ones stay up: NATS restarts, etcd restarts and lease loss, malformed wire messages.
import { Etcd3 } from 'etcd3';
import { connect, type NatsConnection } from 'nats';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { EndpointId, KvEvent } from '../../../src/api/index.js';
import { instanceKey, kvEventsSubject, requestSubject } from '../../../src/api/index.js';
import {
  createRuntime,
  type InstanceEvent,
  isRequestError,
  KV_EVENTS,
  type RequestContext,
  type Runtime,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { EtcdServer } from '../../harness/etcd-server.js';
import { NatsServer } from '../../harness/nats-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const log = createLogger({ level: 'silent' });
const frame = z.object({ i: z.number().int() });
const request = z.object({ n: z.number().int().nonnegative(), delayMs: z.number().int().nonnegative() });
async function* count(req: z.infer<typeof request>, ctx: RequestContext) {
  for (let i = 0; i < req.n && !ctx.signal.aborted; i++) {
    yield { i };
    if (req.delayMs > 0) await new Promise((r) => setTimeout(r, req.delayMs));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function runtime(options: { etcd?: string; nats?: string }): Promise<Runtime> {
  const r = await createRuntime({
    log,
    etcdEndpoints: [options.etcd ?? inject('etcdEndpoint')],
    natsServer: options.nats ?? inject('natsUrl'),
  });
  cleanups.push(() => r.close());
  return r;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function endpoint(): EndpointId {
  return {
    namespace: `fail-${process.pid}-${Date.now().toString(36)}`,
    component: 'backend',
    endpoint: 'generate',
  };
}

describe('runtime across service failures', () => {
  it('a NATS restart mid-run: streams end (whole or disconnected), clients reconnect, new calls succeed', async () => {
    const nats = new NatsServer(await harnessTempDir('nats-restart'));
    await nats.start();
    cleanups.push(() => nats.stop());
    const worker = await runtime({ nats: nats.url });
    const caller = await runtime({ nats: nats.url });
    const served = await worker.serveEndpoint(endpoint(), count, { requestSchema: request });

    let received = 0;
    const inFlight = (async () => {
      for await (const f of caller.requestPlane.call(
        served.instance,
        { n: 200, delayMs: 20 },
        { responseSchema: frame },
      )) {
        if (f.i !== received) throw new Error(`frame ${f.i} after ${received}`);
        received++;
      }
      return 'whole' as const;
    })().catch((e: unknown) => e);
    await until(() => received >= 5, 'the stream to start');
    await nats.restart();
    const outcome = await inFlight;
    expect(outcome === 'whole' || isRequestError(outcome, 'disconnected')).toBe(true);

    let answer: number[] | undefined;
    for (let attempt = 0; attempt < 100 && answer === undefined; attempt++) {
      answer = await (async () => {
        const got: number[] = [];
        for await (const f of caller.requestPlane.call(
          served.instance,
          { n: 3, delayMs: 0 },
          { responseSchema: frame },
        ))
          got.push(f.i);
        return got;
      })().catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(answer).toEqual([0, 1, 2]);
  });

  it('an etcd restart keeps registrations; a lost lease brings them back under a new one', async () => {
    const etcd = new EtcdServer(await harnessTempDir('etcd-restart'));
    await etcd.start();
    cleanups.push(() => etcd.stop());
    const worker = await runtime({ etcd: etcd.endpoint });
    const watcher = await runtime({ etcd: etcd.endpoint });
    const ep = endpoint();
    const events: InstanceEvent[] = [];
    await watcher.discovery.watchInstances(ep, (e) => events.push(e));
    await worker.serveEndpoint(ep, count, { requestSchema: request });
    await until(() => events.length === 1, 'the instance to appear');

    await etcd.restart();
    await until(
      async () => (await watcher.discovery.list(ep)).length === 1,
      'the instance listed after the restart',
    );

    // Revoke the worker's lease behind its back (as a long partition would expire it).
    const raw = new Etcd3({ hosts: etcd.endpoint });
    cleanups.push(async () => raw.close());
    const key = instanceKey(ep, worker.instanceId);
    const lease = (await raw.get(key).exec()).kvs[0]?.lease;
    expect(lease).toBeDefined();
    await raw.leaseClient.leaseRevoke({ ID: String(lease) });
    await until(() => events.some((e) => e.kind === 'removed'), 'the watcher to see the instance go');
    await until(() => events.at(-1)?.kind === 'added' && events.length >= 3, 'the instance to come back');
    const newLease = (await raw.get(key).exec()).kvs[0]?.lease;
    expect(newLease).toBeDefined();
    expect(String(newLease)).not.toBe(String(lease));
    expect((await watcher.discovery.list(ep)).map((i) => i.instanceId)).toEqual([worker.instanceId]);
  });

  it('rejects and counts malformed wire messages, and keeps serving', async () => {
    const worker = await runtime({});
    const caller = await runtime({});
    const ep = endpoint();
    const served = await worker.serveEndpoint(ep, count, { requestSchema: request });
    const events: KvEvent[] = [];
    const scope = { namespace: ep.namespace, component: ep.component };
    await caller.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e));
    const seen: InstanceEvent[] = [];
    await caller.discovery.watchInstances(ep, (e) => seen.push(e));

    const nc: NatsConnection = await connect({ servers: inject('natsUrl') });
    cleanups.push(() => nc.close());
    const subject = requestSubject(ep, worker.instanceId);
    const enc = new TextEncoder();
    // Not JSON, wrong envelope, invalid payload: each answered with an invalid_request error frame.
    for (const body of [
      'not json',
      '{"v":2}',
      JSON.stringify({ v: 1, requestId: 'r', credit: 4, payload: { n: -1 } }),
    ]) {
      const reply = await nc.request(subject, enc.encode(body), { timeout: 5_000 });
      expect(reply.data[0]).toBe(3); // error frame
      expect(new TextDecoder().decode(reply.data.subarray(5))).toContain('invalid_request');
    }
    nc.publish(subject, enc.encode('no reply subject'));
    nc.publish(`${subject}.ctl`, enc.encode('{"kind":"explode"}'));
    nc.publish(`${subject}.ctl`, enc.encode('\u0000'));
    nc.publish(kvEventsSubject(ep.namespace, ep.component), enc.encode('{"workerId":"nothex","eventId":1}'));
    nc.publish(kvEventsSubject(ep.namespace, ep.component), enc.encode('garbage'));
    await nc.flush();
    const raw = new Etcd3({ hosts: inject('etcdEndpoint') });
    cleanups.push(async () => raw.close());
    await raw.put(`v1/instances/${ep.namespace}/${ep.component}/${ep.endpoint}/zzzz`).value('{"broken":');

    const malformed = async (r: Runtime, plane: string) => {
      const metric = await r.metrics.registry
        .getSingleMetric('dynamo_runtime_malformed_messages_total')
        ?.get();
      return metric?.values.find((v) => v.labels.plane === plane)?.value ?? 0;
    };
    await until(async () => (await malformed(worker, 'request')) >= 3, 'malformed requests counted');
    await until(async () => (await malformed(worker, 'control')) >= 2, 'malformed control messages counted');
    await until(async () => (await malformed(caller, 'event')) >= 2, 'malformed events counted');
    await until(
      async () => (await malformed(caller, 'discovery')) >= 1,
      'malformed discovery entries counted',
    );
    expect(events).toEqual([]);
    expect(seen.map((e) => e.instance.instanceId)).toEqual([worker.instanceId]);

    // Still serving, still delivering.
    const got: number[] = [];
    for await (const f of caller.requestPlane.call(
      served.instance,
      { n: 3, delayMs: 0 },
      { responseSchema: frame },
    ))
      got.push(f.i);
    expect(got).toEqual([0, 1, 2]);
    worker.eventPlane.publish(KV_EVENTS, scope, { workerId: worker.instanceId, eventId: 0, data: 'cleared' });
    await until(() => events.length === 1, 'a valid event after the malformed ones');
    await raw.delete().key(`v1/instances/${ep.namespace}/${ep.component}/${ep.endpoint}/zzzz`).exec();
  });
});
