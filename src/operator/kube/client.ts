// A thin REST client for the Kubernetes API over node:https, authenticated from a kubeconfig or the
// pod's service account (kubeconfig.ts). Thin on purpose: the operator needs exactly get, list (paged),
// watch, server-side apply (also on status and scale subresources), merge patch, create and delete, on
// any kind by its ResourceType, with typed errors it can branch on (404, 409, 410).
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import { type Credentials, loadCredentials } from './kubeconfig.js';
import { apiVersionOf, type KubeObject, type ResourceType } from './types.js';

/** A response of the API server that is not 2xx; `reason` is the Status's (NotFound, Conflict, Expired...). */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.status === 410;

export interface ListResult<T extends KubeObject> {
  items: T[];
  resourceVersion: string;
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** What every call takes: the caller's signal (a reconcile's, aborted when leadership is lost). */
export interface CallOptions {
  signal?: AbortSignal;
}

interface RequestInit extends CallOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
  /** The whole call's deadline (request to last byte); the client's default when unset. */
  timeoutMs?: number;
  /** Watches only: the socket may be idle this long (they have no deadline, they stream). */
  idleTimeoutMs?: number;
}

/** A call's deadline unless it names one: an API server that hangs must not hang a reconcile. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** Items per list request (client-go's informers page by 500 too): no answer holds a whole cluster's kind. */
export const DEFAULT_LIST_PAGE_SIZE = 500;

export class KubeClient {
  private readonly agent: HttpAgent;
  private tls: RequestOptions = {};
  private tlsLoadedAt = 0;

  private constructor(
    private readonly credentials: Credentials,
    /** Who writes: the field manager of server-side apply, and of every other write. */
    readonly fieldManager: string,
    /** Act as this user (Impersonate-User/-Group), when our credentials may impersonate. */
    private readonly impersonate?: { user: string; groups?: string[] },
    /** Called with each warning the API server sends (deprecations, admission webhooks' warnings). */
    private readonly onWarning?: (warning: string, request: string) => void,
    private readonly callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS,
    private readonly listPageSize = DEFAULT_LIST_PAGE_SIZE,
  ) {
    const https = credentials.server.protocol === 'https:';
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
      : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  }

  /** From a kubeconfig file, or (no file) the default chain: $KUBECONFIG, ~/.kube/config, in-cluster. */
  static fromKubeconfig(
    file: string | undefined,
    fieldManager: string,
    options: {
      impersonate?: { user: string; groups?: string[] };
      onWarning?: (warning: string, request: string) => void;
      /** Deadline of each call (watches excepted); DEFAULT_CALL_TIMEOUT_MS when unset. */
      callTimeoutMs?: number;
      /** Items per list request; DEFAULT_LIST_PAGE_SIZE when unset. */
      listPageSize?: number;
    } = {},
  ): KubeClient {
    return new KubeClient(
      loadCredentials(file),
      fieldManager,
      options.impersonate,
      options.onWarning,
      options.callTimeoutMs,
      options.listPageSize,
    );
  }

  close(): void {
    this.agent.destroy();
  }

  // Credentials are reread every minute: in a pod the service-account token file rotates.
  private async tlsOptions(): Promise<RequestOptions> {
    if (Date.now() - this.tlsLoadedAt > 60_000) {
      this.tls = await this.credentials.requestOptions();
      this.tlsLoadedAt = Date.now();
    }
    return this.tls;
  }

  static path(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
    const base = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
    const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const n = name ? `/${encodeURIComponent(name)}` : '';
    const sub = subresource ? `/${subresource}` : '';
    return `${base}${ns}/${rt.plural}${n}${sub}`;
  }

  private async open(method: string, path: string, init: RequestInit, agent: HttpAgent | false) {
    const url = new URL(path, this.credentials.server);
    for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const tls = await this.tlsOptions();
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string | string[]> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(tls.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (this.impersonate) {
      headers['impersonate-user'] = this.impersonate.user;
      // One header line per group: the API server does not split a comma-joined value.
      if (this.impersonate.groups) headers['impersonate-group'] = this.impersonate.groups;
    }
    if (payload !== undefined) {
      headers['content-type'] = init.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers,
          agent,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          auth: tls.auth,
          rejectUnauthorized: tls.rejectUnauthorized,
          servername: tls.servername,
          signal: init.signal,
        },
        resolve,
      );
      req.on('error', reject);
      const idle = init.idleTimeoutMs;
      if (idle !== undefined)
        req.setTimeout(idle, () => req.destroy(new Error(`${method} ${path}: no data for ${idle} ms`)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const text = await this.requestText(method, path, init);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /** A call whose answer is not JSON (`GET /metrics`): its body as text. */
  async requestText(method: string, path: string, init: RequestInit = {}): Promise<string> {
    // The deadline covers the body too: aborting destroys the socket, which ends the read below.
    const timeoutMs = init.timeoutMs ?? this.callTimeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    let text: string;
    let res: import('node:http').IncomingMessage;
    try {
      res = await this.open(method, path, { ...init, signal }, this.agent);
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (init.signal?.aborted) throw abortError(init.signal, method, path);
      if (deadline.aborted) throw new Error(`${method} ${path}: no answer within ${timeoutMs} ms`);
      throw err;
    }
    const status = res.statusCode ?? 0;
    // headersDistinct: one entry per Warning header (headers.warning would join them with commas).
    for (const w of res.headersDistinct.warning ?? []) this.onWarning?.(parseWarning(w), `${method} ${path}`);
    if (status < 200 || status >= 300) throw errorFrom(status, text, `${method} ${path}`);
    return text;
  }

  async get<T extends KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: CallOptions = {},
  ): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', KubeClient.path(rt, namespace, name), opts);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Every object, in pages of `listPageSize` (`limit` + `continue`), each request with its own
   * deadline; all pages come from the snapshot of the first, whose resourceVersion a watch starts
   * from. A continue token that expired (410: the snapshot left etcd's compaction window while we
   * paged) restarts the list once from the first page; a second 410 is thrown (an informer lists again).
   */
  async list<T extends KubeObject>(
    rt: ResourceType,
    opts: ListOptions & CallOptions = {},
  ): Promise<ListResult<T>> {
    const apiVersion = apiVersionOf(rt);
    const items: T[] = [];
    let token: string | undefined;
    let restarted = false;
    for (;;) {
      let page: { items: T[]; metadata: { resourceVersion: string; continue?: string } };
      try {
        page = await this.request('GET', KubeClient.path(rt, opts.namespace), {
          query: {
            labelSelector: opts.labelSelector,
            fieldSelector: opts.fieldSelector,
            limit: String(this.listPageSize),
            continue: token,
          },
          signal: opts.signal,
        });
      } catch (err) {
        if (token === undefined || !isGone(err) || restarted) throw err;
        restarted = true;
        items.length = 0;
        token = undefined;
        continue;
      }
      // Lists carry no apiVersion/kind per item.
      for (const item of page.items) {
        item.apiVersion = apiVersion;
        item.kind = rt.kind;
        items.push(item);
      }
      token = page.metadata.continue || undefined;
      if (token === undefined) return { items, resourceVersion: page.metadata.resourceVersion };
    }
  }

  /** Server-side apply as this client's field manager; force takes fields over from other managers. */
  apply<T extends KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    opts: { subresource?: string; force?: boolean } & CallOptions = {},
  ) {
    return this.request<T>(
      'PATCH',
      KubeClient.path(rt, obj.metadata.namespace, obj.metadata.name, opts.subresource),
      {
        body: obj,
        contentType: 'application/apply-patch+yaml', // JSON is YAML
        query: { fieldManager: this.fieldManager, force: opts.force === false ? undefined : 'true' },
        signal: opts.signal,
      },
    );
  }

  mergePatch<T extends KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: string,
    opts: CallOptions = {},
  ): Promise<T> {
    return this.request<T>('PATCH', KubeClient.path(rt, namespace, name, subresource), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: this.fieldManager },
      signal: opts.signal,
    });
  }

  create<T extends KubeObject>(rt: ResourceType, obj: KubeObject, opts: CallOptions = {}): Promise<T> {
    return this.request<T>('POST', KubeClient.path(rt, obj.metadata.namespace), {
      body: obj,
      query: { fieldManager: this.fieldManager },
      signal: opts.signal,
    });
  }

  replace<T extends KubeObject>(rt: ResourceType, obj: KubeObject, opts: CallOptions = {}): Promise<T> {
    return this.request<T>('PUT', KubeClient.path(rt, obj.metadata.namespace, obj.metadata.name), {
      body: obj,
      query: { fieldManager: this.fieldManager },
      signal: opts.signal,
    });
  }

  /** Deletes; an object already gone is not an error. */
  async delete(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: CallOptions = {},
  ): Promise<void> {
    try {
      await this.request('DELETE', KubeClient.path(rt, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
        signal: opts.signal,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * One watch request from `resourceVersion`: calls onEvent per event and resolves when the server ends
   * the stream (its timeout) or the signal fires. A 410 Gone, as a status or an ERROR event, rejects
   * with KubeApiError 410: the caller lists again.
   */
  async watch(
    rt: ResourceType,
    opts: ListOptions & { resourceVersion: string; signal: AbortSignal; timeoutSeconds?: number },
    onEvent: (event: WatchEvent) => void,
  ): Promise<void> {
    const res = await this.open(
      'GET',
      KubeClient.path(rt, opts.namespace),
      {
        query: {
          watch: 'true',
          resourceVersion: opts.resourceVersion,
          allowWatchBookmarks: 'true',
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          timeoutSeconds: String(opts.timeoutSeconds ?? 300),
        },
        signal: opts.signal,
        // The server ends the stream after timeoutSeconds: silence well past that is a dead connection.
        idleTimeoutMs: ((opts.timeoutSeconds ?? 300) + 30) * 1000,
      },
      false, // a long-lived stream must not hold a pooled socket
    );
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw errorFrom(status, Buffer.concat(chunks).toString('utf8'), `watch ${rt.plural}`);
    }
    const apiVersion = apiVersionOf(rt);
    const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as WatchEvent;
        if (event.type === 'ERROR') {
          const s = event.object as unknown as { code?: number; reason?: string; message?: string };
          throw new KubeApiError(s.code ?? 500, s.reason ?? 'Error', s.message ?? 'watch error');
        }
        event.object.apiVersion ??= apiVersion;
        event.object.kind ??= rt.kind;
        onEvent(event);
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      throw err;
    } finally {
      res.destroy();
    }
  }
}

/** `299 - "text"` (RFC 7234 warn-code, agent, quoted text) → the text. */
export function parseWarning(header: string): string {
  const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return m?.[1] ? m[1].replace(/\\(.)/g, '$1') : header;
}

/** The caller's abort, with its reason (e.g. "leadership lost") and the call it stopped. */
function abortError(signal: AbortSignal, method: string, path: string): Error {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new Error(`${method} ${path}: aborted (${reason})`, { cause: signal.reason });
}

function errorFrom(status: number, text: string, what: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, s.reason ?? String(status), `${what}: ${s.message ?? text}`);
  } catch {
    return new KubeApiError(status, String(status), `${what}: HTTP ${status} ${text.slice(0, 200)}`);
  }
}
