import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection, StringCodec } from 'nats';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { NatsServer } from '../../harness/nats-server.js';
import { freePort } from '../../harness/process.js';
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

  it('starts on fresh ports when a picked one is taken before it binds', async () => {
    // The race freePort leaves open, made certain: the first port handed out is already listened on.
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as { port: number }).port;
    const picked: number[] = [];
    const pickPort = async () => {
      const port = picked.length === 0 ? taken : await freePort();
      picked.push(port);
      return port;
    };
    const dir = await harnessTempDir('nats-port-race');
    const server = new NatsServer(dir, { pickPort });
    try {
      await server.start();
      expect(picked[0]).toBe(taken);
      expect(picked.length).toBe(4);
      expect(server.port).not.toBe(taken);
      const nc = await open(server.url);
      await nc.flush();
    } finally {
      await server.stop();
      squatter.close();
    }
  });

  it('fails at once, quoting its log, when the server exits for another reason', async () => {
    let picks = 0;
    const pickPort = () => {
      picks++;
      return freePort();
    };
    const dir = await harnessTempDir('nats-bad-config');
    const missing = join(dir, 'missing');
    const server = new NatsServer(dir, {
      pickPort,
      tls: {
        server: { certFile: `${missing}.crt`, keyFile: `${missing}.key`, cert: '', key: '' },
        caFile: `${missing}-ca.crt`,
      },
    });
    await expect(server.start()).rejects.toThrow(/exited during start[\s\S]*missing\.crt/);
    expect(picks).toBe(2);
    expect(server.port).toBe(0);
  });
});
