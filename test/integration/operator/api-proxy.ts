// An HTTP proxy in front of the harness's kube-apiserver, for tests that must see or stop an operator's
// requests: the operator talks plain HTTP to it (a kubeconfig without credentials), the proxy forwards
// each request over TLS as the harness's admin and records it, numbered by one counter shared by every
// proxy of the test, so the requests of two operators can be ordered. `stall()` models an API server
// that hangs: requests arriving from then on are held unanswered (those already forwarded, such as
// watch streams, go on); `resume()` forwards the held requests whose client is still waiting, and a
// request its client gave up on (socket closed) is dropped, never forwarded.
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, type RequestOptions, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface ProxiedRequest {
  /** Order among the requests every proxy of this process forwarded. */
  seq: number;
  method: string;
  path: string;
}

let counter = 0;

const isWrite = (r: ProxiedRequest) => r.method !== 'GET' && r.method !== 'HEAD';

export class ApiProxy {
  readonly forwarded: ProxiedRequest[] = [];
  private held: { res: ServerResponse; go: () => void }[] = [];
  private stalled = false;
  /** When set, the first request it matches stalls the proxy (that request included). */
  stallWhen: ((method: string, path: string) => boolean) | undefined;

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    private readonly tls: RequestOptions,
    private readonly agent: Agent,
  ) {}

  static async start(kubeconfig: string): Promise<ApiProxy> {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const tls: RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const server = createServer();
    const proxy = new ApiProxy(server, new URL(cluster.server), tls, new Agent({ keepAlive: true }));
    server.on('request', (req, res) => proxy.onRequest(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Writes a kubeconfig that points at this proxy. */
  async writeKubeconfig(path: string): Promise<string> {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses http: unless told TLS is not verified (there is none here).
      clusters: [{ name: 'proxy', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'proxy', user: {} }],
      contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxy' } }],
      'current-context': 'proxy',
    };
    await writeFile(path, JSON.stringify(config), { mode: 0o600 });
    return path;
  }

  /** Requests that change state (everything but GET: watches and lists are GETs too). */
  writes(): ProxiedRequest[] {
    return this.forwarded.filter(isWrite);
  }

  stall(): void {
    this.stalled = true;
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  /** How many requests are held now (their clients still waiting). */
  get heldCount(): number {
    return this.held.length;
  }

  resume(): void {
    this.stalled = false;
    for (const { go } of this.held.splice(0)) go();
  }

  async close(): Promise<void> {
    this.resume();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (!this.stalled && this.stallWhen?.(method, path)) {
      this.stallWhen = undefined;
      this.stalled = true;
    }
    const go = () => this.forward(req, res, method, path);
    if (!this.stalled) {
      go();
      return;
    }
    const entry = { res, go };
    this.held.push(entry);
    // The client gave up (its deadline or abort): the request must never reach the server.
    res.on('close', () => {
      this.held = this.held.filter((h) => h !== entry);
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    if (res.destroyed) return;
    this.forwarded.push({ seq: ++counter, method, path });
    const up = request(new URL(path, this.upstream), {
      method,
      headers: { ...req.headers, host: this.upstream.host },
      agent: this.agent,
      ca: this.tls.ca,
      cert: this.tls.cert,
      key: this.tls.key,
    });
    up.on('response', (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    // The client went away mid-answer (an abort, a watch stopped): so does the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }
}
