// SIGTERM to `dynamo run` under streaming load (issue 19): the frontend stops taking requests at once
// (a new connection is refused) while the streams in flight finish on the workers, every one of them
// completed, and the process exits 0 well within --graceful-shutdown-ms. Run from source, in memory
// (no etcd, no NATS), as a user starts it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceCli } from '../../harness/dynamo-process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { flowing, metricSum, servesNormally, startTraffic, until } from './fault-traffic.js';

const GRACE_MS = 15_000;
// About 6 ms a token: a stream lasts 2–3 s, so SIGTERM lands in the middle of several.
const STREAM = { maxTokens: 400, boundMs: 45_000 };

let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill('SIGKILL');
});

/** `dynamo run <args> --http-port 0` from source; resolves with its URL once the frontend listens. */
async function startRun(
  args: string[],
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const dir = await harnessTempDir('run-drain');
  // In memory: not on the harness's etcd and NATS, which its env names for other children.
  const { ETCD_ENDPOINTS: _etcd, NATS_SERVER: _nats, ...env } = process.env;
  const proc = spawn(process.execPath, sourceCli(['run', '--http-port', '0', ...args]), {
    env: { ...env, DYN_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  proc.stderr?.pipe(createWriteStream(join(dir, 'run.stderr.log')));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const log = createWriteStream(join(dir, 'run.log'));
  let port = 0;
  for await (const line of createInterface({ input: proc.stdout as NodeJS.ReadableStream })) {
    log.write(`${line}\n`);
    if (line.includes('"frontend listening"')) {
      port = Number((JSON.parse(line) as { port?: unknown }).port);
      break;
    }
  }
  if (!(port > 0)) throw new Error(`dynamo run exited before listening; see ${dir}`);
  proc.stdout?.pipe(log);
  return { child: proc, url: `http://127.0.0.1:${port}`, exited };
}

/** A request on a connection of its own (no kept-alive one): 'refused' when nothing listens. */
function freshRequest(url: string): Promise<number | 'refused'> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/models`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err),
    );
    req.end();
  });
}

describe('dynamo run under load', () => {
  it('SIGTERM drains: new requests refused, streams in flight complete, exit 0 within the grace period', async () => {
    const run = await startRun([
      ...['--engine', 'mocker', '--workers', '2', '--speedup-ratio', '1'],
      ...['--graceful-shutdown-ms', String(GRACE_MS)],
    ]);
    await servesNormally(run.url, 1, STREAM);
    const traffic = startTraffic(run.url, { ...STREAM, concurrency: 3 });
    await flowing(traffic, 3);
    await until(
      async () =>
        metricSum(await (await fetch(`${run.url}/metrics`)).text(), 'dynamo_frontend_inflight_requests') >= 2,
      'streams in flight',
      30_000,
    );
    const started = Date.now();
    run.child.kill('SIGTERM');
    // The loops start nothing more; the streams they have in flight run on.
    const summary = traffic.stop();
    await until(
      async () => (await freshRequest(run.url)) === 'refused',
      'new connections to be refused',
      10_000,
    );
    const done = await summary;
    expect(done.unclean).toEqual([]);
    expect(done.hung).toBe(0);
    expect(done.errors).toEqual({});
    expect(done.refused).toBe(0);
    expect(done.completed).toBeGreaterThanOrEqual(3);
    expect(await run.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(GRACE_MS);
  }, 120_000);
});
