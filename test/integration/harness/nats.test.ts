import { connect, type NatsConnection, StringCodec } from 'nats';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { NatsServer } from '../../harness/nats-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const sc = StringCodec();
const connections: NatsConnection[] = [];
async function open(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  connections.push(nc);
  return nc;
}
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

describe('harness NATS', () => {
  it('delivers published messages to subscribers', async () => {
    const nc = await open(inject('natsUrl'));
    const sub = nc.subscribe('harness.pubsub', { max: 3 });
    for (const n of [1, 2, 3]) nc.publish('harness.pubsub', sc.encode(`m${n}`));
    const got: string[] = [];
    for await (const msg of sub) got.push(sc.decode(msg.data));
    expect(got).toEqual(['m1', 'm2', 'm3']);
  });

  it('answers requests', async () => {
    const nc = await open(inject('natsUrl'));
    nc.subscribe('harness.echo', {
      callback: (_err, msg) => msg.respond(sc.encode(`echo:${sc.decode(msg.data)}`)),
    });
    await nc.flush();
    const reply = await nc.request('harness.echo', sc.encode('hi'), { timeout: 5_000 });
    expect(sc.decode(reply.data)).toBe('echo:hi');
  });

  it('runs JetStream', async () => {
    const nc = await open(inject('natsUrl'));
    const jsm = await nc.jetstreamManager();
    const name = `HARNESS_${process.pid}`;
    await jsm.streams.add({ name, subjects: [`harness.js.${process.pid}`] });
    await nc.jetstream().publish(`harness.js.${process.pid}`, sc.encode('stored'));
    expect((await jsm.streams.info(name)).state.messages).toBe(1);
    await jsm.streams.delete(name);
  });

  it('lets clients reconnect after a restart', async () => {
    const server = new NatsServer(await harnessTempDir('nats-restart'));
    await server.start();
    try {
      const nc = await open(server.url);
      nc.subscribe('restart.echo', { callback: (_err, msg) => msg.respond(msg.data) });
      await server.restart();
      // The client resubscribes on reconnect; retry until the server is back and the echo answers.
      let answer: string | undefined;
      for (let attempt = 0; attempt < 100 && answer === undefined; attempt++) {
        answer = await nc
          .request('restart.echo', sc.encode('again'), { timeout: 500 })
          .then((m) => sc.decode(m.data))
          .catch(() => undefined);
      }
      expect(answer).toBe('again');
    } finally {
      await server.stop();
    }
  });
});
