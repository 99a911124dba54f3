// `npm run bench:replica-sync`: what router replica sync costs per routed request. A Router over 4
// workers routes and completes 4k-token requests (64 blocks of 64 tokens, 32 in flight) three ways, on
// one in-memory event plane: sync off; sync on with a peer that only heartbeats (the sender's cost:
// recording, batching, hex encoding, publishing); sync on with a real peer in the same process (the
// sender's cost plus the peer's validation and apply, which another frontend pays in production).
// Rounds alternate the three and the best of each is kept (the machine is shared). Last line: JSON.
import type { InstanceId } from '../api/index.js';
import { routerSyncSubject } from '../api/index.js';
import { ReplicaSync } from '../router/replica-sync.js';
import { DEFAULT_ROUTER_SETTINGS, Router } from '../router/router.js';
import { createLogger } from '../runtime/logger.js';
import { MemoryEventBus, MemoryEventPlane } from '../runtime/memory-event-plane.js';

const REQUESTS = 3000;
const ROUNDS = 6;
const IN_FLIGHT = 32;
const log = createLogger({ level: 'silent' });
const model = {
  name: 'm',
  endpoint: { namespace: 'ns', component: 'backend', endpoint: 'generate' },
  blockSize: 64,
  totalKvBlocks: 1_000_000,
  maxNumSeqs: 1_000_000,
};
const WORKERS = [
  '000000000000000a',
  '000000000000000b',
  '000000000000000c',
  '000000000000000d',
] as InstanceId[];
const PROMPTS = [...Array(64)].map((_, g) => [...Array(4096)].map((_, i) => (g * 7919 + i) % 30_000));
type Mode = 'off' | 'send' | 'sendAndApply';

function router(): Router {
  const r = new Router({ ...DEFAULT_ROUTER_SETTINGS, busyThreshold: null }, model, { log });
  for (const w of WORKERS) {
    r.addInstance(w);
    r.applyDump({ workerId: w, lastEventId: -1, events: [] });
  }
  return r;
}

async function deployment(mode: Mode): Promise<{ router: Router; close: () => Promise<void> }> {
  const r = router();
  if (mode === 'off') return { router: r, close: async () => {} };
  const bus = new MemoryEventBus();
  const sync = new ReplicaSync(r, new MemoryEventPlane(bus, log), { leaseMs: 600_000 }, log);
  r.lifecycle = sync;
  await sync.start();
  let peer: ReplicaSync | undefined;
  if (mode === 'sendAndApply') {
    peer = new ReplicaSync(router(), new MemoryEventPlane(bus, log), { leaseMs: 600_000 }, log);
    await peer.start();
  } else {
    // A peer heard once and never listening: ops are published, nobody parses them.
    const topic = { name: 'router_sync', schema: undefined as never, subject: routerSyncSubject };
    new MemoryEventPlane(bus, log).publish(topic, model.endpoint, {
      kind: 'heartbeat',
      router: '00000000000000ee',
      model: model.name,
      seq: 0,
      active: 0,
      digest: '00000000',
    });
  }
  await new Promise((r) => setTimeout(r, 50));
  if (sync.peers.size !== 1) throw new Error('the peer was not heard');
  return {
    router: r,
    close: async () => {
      await sync.close();
      await peer?.close();
    },
  };
}

/** µs per request routed and completed, the flushes (and the peer's apply) included. */
async function round(mode: Mode): Promise<number> {
  const { router: r, close } = await deployment(mode);
  const start = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    await r.route({ requestId: `q${i}`, tokenIds: PROMPTS[i % PROMPTS.length] as number[] });
    if (i >= IN_FLIGHT) r.complete(`q${i - IN_FLIGHT}`);
    // Let the event loop turn as a server's would (ops flush once per turn).
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  const us = ((performance.now() - start) * 1000) / REQUESTS;
  await close();
  return us;
}

const best: Record<Mode, number> = { off: Infinity, send: Infinity, sendAndApply: Infinity };
for (let k = 0; k < ROUNDS; k++) {
  for (const mode of ['off', 'send', 'sendAndApply'] as const)
    best[mode] = Math.min(best[mode], await round(mode));
}
const r2 = (v: number) => Math.round(v * 100) / 100;
process.stdout.write(
  `${JSON.stringify({
    bench: 'replica-sync',
    requests: REQUESTS,
    blocksPerRequest: 64,
    usPerRequest: { off: r2(best.off), send: r2(best.send), sendAndApply: r2(best.sendAndApply) },
    ratios: {
      sendOverOff: r2(best.send / best.off),
      sendAndApplyOverOff: r2(best.sendAndApply / best.off),
    },
  })}\n`,
);
