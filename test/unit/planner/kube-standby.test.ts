// Scale to zero in `dynamo planner` (Kubernetes): the parking helper shared with the local connector,
// and withStandby around a connector — the model card read from discovery is parked as a standby card
// under the planner's runtime before scale(…, 0), and removed once a new worker registers; without a
// runtime or a card the service is kept at 1 replica. Discovery is the in-memory runtime's; the
// connector is a fake standing for the Kubernetes one.
import { afterEach, describe, expect, it } from 'vitest';
import type { Instance, ModelCard } from '../../../src/api/index.js';
import { ConnectorError } from '../../../src/planner/connector.js';
import { withStandby, workerCard } from '../../../src/planner/kube-connector.js';
import { known, type Metric } from '../../../src/planner/metric.js';
import type { PrometheusClient } from '../../../src/planner/prometheus.js';
import { StandbyParking } from '../../../src/planner/standby-parking.js';
import { PrometheusDemand } from '../../../src/planner/traffic.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { FakeConnector } from './fakes.js';

const log = createLogger({ level: 'silent' });
const card = { name: 'm', disaggregationMode: 'agg' } as ModelCard;
const scope = { namespace: 'dynamo', component: 'decode' };
const standby = { ...scope, endpoint: 'standby' };
const generate = { ...scope, endpoint: 'generate' };

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await check()).toBe(true);
}

let runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.allSettled(runtimes.map((r) => r.close()));
  runtimes = [];
});

async function runtimeOn(hub: MemoryHub): Promise<Runtime> {
  const r = await createRuntime({ log, memory: hub });
  runtimes.push(r);
  return r;
}

/** A worker process of the `decode` service: its runtime registers `generate` with the card. */
async function worker(hub: MemoryHub, withCard: ModelCard | null = card): Promise<Runtime> {
  const r = await runtimeOn(hub);
  const instance: Instance = {
    ...generate,
    instanceId: r.instanceId,
    transport: { kind: 'memory', address: `generate.${r.instanceId}` },
  };
  await r.discovery.register(instance, withCard ?? undefined);
  return r;
}

describe('StandbyParking', () => {
  it('registers a card once per service on its component, removes it, and says when there is none', async () => {
    const hub = new MemoryHub();
    const planner = await runtimeOn(hub);
    const watcher = await runtimeOn(hub);
    const parking = new StandbyParking(
      { discovery: planner.discovery, holder: planner.instanceId, transport: 'memory' },
      log,
    );
    expect(await parking.park('Decode', scope, undefined)).toBe(false);
    expect(await watcher.discovery.list(standby)).toHaveLength(0);

    expect(await parking.park('Decode', scope, card)).toBe(true);
    expect(await parking.park('Decode', scope, { ...card, name: 'other' })).toBe(true); // already parked
    expect(parking.has('Decode')).toBe(true);
    const listed = await watcher.discovery.list(standby);
    expect(listed).toHaveLength(1);
    expect(listed[0]?.instanceId).toBe(planner.instanceId);
    expect(await watcher.discovery.modelCard(standby, planner.instanceId)).toEqual(card);

    await parking.unpark('Decode');
    await parking.unpark('Decode'); // idempotent
    expect(parking.has('Decode')).toBe(false);
    expect(await watcher.discovery.list(standby)).toHaveLength(0);

    await parking.park('Decode', scope, card);
    await parking.close();
    expect(await watcher.discovery.list(standby)).toHaveLength(0);
  });
});

describe('withStandby (dynamo planner, scale to zero)', () => {
  const services = [{ name: 'Decode', component: 'decode' }];

  it('reads the card a worker of the component registered, not a standby card', async () => {
    const hub = new MemoryHub();
    const w = await worker(hub);
    const planner = await runtimeOn(hub);
    const found = await workerCard(planner.discovery, scope);
    expect(found.card).toEqual(card);
    expect([...found.workers]).toEqual([w.instanceId]);
    expect((await workerCard(planner.discovery, { ...scope, component: 'prefill' })).card).toBeUndefined();
  });

  it('parks the model before scale(…, 0) and unparks when a new worker registers', async () => {
    const hub = new MemoryHub();
    const old = await worker(hub);
    const planner = await runtimeOn(hub);
    const watcher = await runtimeOn(hub);
    const inner = new FakeConnector({ Decode: 1 });
    const standbyAtScale: number[] = [];
    const scale = inner.scale.bind(inner);
    inner.scale = async (name, replicas) => {
      standbyAtScale.push((await watcher.discovery.list(standby)).length);
      await scale(name, replicas);
    };
    const connector = withStandby(inner, {
      services,
      namespace: 'dynamo',
      runtime: { discovery: planner.discovery, instanceId: planner.instanceId, transport: 'memory' },
      log,
    });

    await connector.scale('Decode', 0);
    expect(inner.scaled).toEqual([{ name: 'Decode', replicas: 0 }]);
    expect(standbyAtScale).toEqual([1]); // registered before the scale
    expect(await watcher.discovery.modelCard(standby, planner.instanceId)).toEqual(card);

    // The last worker goes: the card stays; parking again is a no-op.
    await old.discovery.unregisterAll();
    await connector.scale('Decode', 0);
    expect(await watcher.discovery.list(standby)).toHaveLength(1);
    // The wake rule scales up; the card stays until a worker registers, then goes.
    await connector.scale('Decode', 1);
    expect(inner.scaled.at(-1)).toEqual({ name: 'Decode', replicas: 1 });
    expect(await watcher.discovery.list(standby)).toHaveLength(1);
    await worker(hub);
    await until(async () => (await watcher.discovery.list(standby)).length === 0);

    // Parked again from the new worker's card, and unparked again by the next one.
    await connector.scale('Decode', 0);
    expect(await watcher.discovery.list(standby)).toHaveLength(1);
    await worker(hub);
    await until(async () => (await watcher.discovery.list(standby)).length === 0);
    await connector.close();
  });

  it('keeps a parked card while only the workers known at parking re-register', async () => {
    const hub = new MemoryHub();
    const old = await worker(hub);
    const planner = await runtimeOn(hub);
    const connector = withStandby(new FakeConnector({ Decode: 1 }), {
      services,
      namespace: 'dynamo',
      runtime: { discovery: planner.discovery, instanceId: planner.instanceId, transport: 'memory' },
      log,
    });
    await connector.scale('Decode', 0);
    const instance: Instance = {
      ...generate,
      instanceId: old.instanceId,
      transport: { kind: 'memory', address: `generate.${old.instanceId}` },
    };
    await old.discovery.register(instance, card); // the draining worker registers again (same id)
    await new Promise((r) => setTimeout(r, 20));
    expect(await planner.discovery.list(standby)).toHaveLength(1);
    await connector.close(); // the planner stops: its standby cards go
    expect(await planner.discovery.list(standby)).toHaveLength(0);
  });

  it('without a runtime, or without a card to park, keeps the service at 1 and says why', async () => {
    const inner = new FakeConnector({ Decode: 3 });
    const bare = withStandby(inner, { services, namespace: 'dynamo', runtime: undefined, log });
    const err = await bare.scale('Decode', 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(/kept Decode at 1 replica, not 0: no shared discovery/);
    expect(inner.scaled).toEqual([{ name: 'Decode', replicas: 1 }]);
    await bare.scale('Decode', 2);
    expect(inner.scaled.at(-1)).toEqual({ name: 'Decode', replicas: 2 });

    const hub = new MemoryHub();
    await worker(hub, null); // registered, but without a card
    const planner = await runtimeOn(hub);
    const noCard = new FakeConnector({ Decode: 1 });
    const connector = withStandby(noCard, {
      services,
      namespace: 'dynamo',
      runtime: { discovery: planner.discovery, instanceId: planner.instanceId, transport: 'memory' },
      log,
    });
    await expect(connector.scale('Decode', 0)).rejects.toThrow(/no worker of component dynamo\/decode/);
    expect(noCard.scaled).toEqual([{ name: 'Decode', replicas: 1 }]);
    expect(await planner.discovery.list(standby)).toHaveLength(0);
  });

  it('removes the standby card when the scale to zero itself fails (the workers stay)', async () => {
    const hub = new MemoryHub();
    await worker(hub);
    const planner = await runtimeOn(hub);
    const inner = new FakeConnector({ Decode: 1 });
    inner.scale = async () => {
      throw new ConnectorError('forbidden (HTTP 403)');
    };
    const connector = withStandby(inner, {
      services,
      namespace: 'dynamo',
      runtime: { discovery: planner.discovery, instanceId: planner.instanceId, transport: 'memory' },
      log,
    });
    await expect(connector.scale('Decode', 0)).rejects.toThrow(/403/);
    expect(await planner.discovery.list(standby)).toHaveLength(0);
  });
});

describe('PrometheusDemand', () => {
  it('sums the waiting and in-flight gauges of the model, or of every model without one', async () => {
    const queries: string[] = [];
    const client = {
      scalar: async (q: string): Promise<Metric> => {
        queries.push(q);
        return known(q.includes('waiting') ? 2 : 5);
      },
    } as unknown as PrometheusClient;
    expect(await new PrometheusDemand(client, 'm').demand()).toEqual({
      waiting: known(2),
      inflight: known(5),
    });
    await new PrometheusDemand(client, undefined).demand();
    expect(queries).toEqual([
      'sum(dynamo_frontend_waiting_for_worker{model="m"})',
      'sum(dynamo_frontend_inflight_requests{model="m"})',
      'sum(dynamo_frontend_waiting_for_worker)',
      'sum(dynamo_frontend_inflight_requests)',
    ]);
  });
});
