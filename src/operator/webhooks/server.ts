// The admission webhook server: HTTPS on :9443, one path per webhook (registry.ts). Every replica
// serves it, leader or not. Its certificate comes from a TlsSource, checked again periodically; a
// renewed pair is swapped in without a restart (setSecureContext), and when the operator manages the
// configurations it writes the CA bundle into them and into the CRDs' conversion webhook. `/convert`
// answers ConversionReviews (conversion.ts); every other path is an admission webhook.
import { createServer, type Server } from 'node:https';
import { CONVERSION_PATH } from '../../api/k8s/index.js';
import type { Logger } from '../../runtime/logger.js';
import type { KubeClient } from '../kube/client.js';
import { RT } from '../kube/types.js';
import type { OperatorMetrics } from '../metrics.js';
import { conversionPatches, type WebhookRegistration, webhookConfigurations } from './configurations.js';
import { conversionRequestOf, convert } from './conversion.js';
import { type AdmissionRequest, review, type Webhook } from './registry.js';
import type { ServingPair, TlsSource } from './tls-source.js';

export interface WebhookServerOptions {
  host: string;
  port: number;
  tls: TlsSource;
  /** What it serves (registry.ts `webhooks()`, built with the operator's options). */
  webhooks: readonly Webhook[];
  log: Logger;
  metrics: OperatorMetrics;
  /** Write (server-side apply) the webhook configurations with this client, pointing at this target. */
  register?: { client: KubeClient; registration: WebhookRegistration };
  /** Usernames whose writes count as the operator's own (its identity as the API server knows it). */
  operatorUsernames: ReadonlySet<string>;
  /** How often the certificate is checked for renewal. */
  certCheckIntervalMs?: number;
  maxBodyBytes?: number;
}

export class WebhookServer {
  private server: Server | undefined;
  private current: ServingPair | undefined;
  private listening = false;

  constructor(private readonly options: WebhookServerOptions) {}

  get ready(): boolean {
    return this.listening;
  }

  get port(): number {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : this.options.port;
  }

  private async refresh(): Promise<void> {
    const pair = await this.options.tls.sync();
    const prev = this.current;
    this.current = pair;
    if (this.server && prev && (prev.certPem !== pair.certPem || prev.keyPem !== pair.keyPem)) {
      this.server.setSecureContext({ cert: pair.certPem, key: pair.keyPem });
      this.options.log.info('webhook certificate reloaded');
    }
    if (pair.caBundle !== prev?.caBundle) await this.register(pair);
  }

  /** Points the configurations at us with this CA bundle (only once we listen: failurePolicy is Fail). */
  private async register(pair: ServingPair): Promise<void> {
    if (!this.options.register || pair.caBundle === undefined) return;
    const { client, registration } = this.options.register;
    if (registration.configurations !== false)
      for (const config of webhookConfigurations(registration, pair.caBundle)) {
        const rt =
          config.kind === 'ValidatingWebhookConfiguration' ? RT.validatingWebhook : RT.mutatingWebhook;
        await client.apply(rt, config);
      }
    for (const { name, patch } of conversionPatches(registration, pair.caBundle)) {
      // Without it only v1beta1 fails (v1alpha1, the storage version, needs no conversion): warn, go on.
      await client
        .mergePatch(RT.crd, undefined, name, patch)
        .catch((err: unknown) =>
          this.options.log.warn(
            { crd: name, err: (err as Error).message },
            'conversion webhook not registered: v1beta1 cannot be served',
          ),
        );
    }
    this.options.log.info('webhook configurations registered');
  }

  private handleConversion(body: string): { status: number; payload: unknown } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    const request = conversionRequestOf(parsed);
    if (!request) {
      this.options.metrics.admissions.inc({ webhook: 'conversion', verdict: 'error' });
      return { status: 400, payload: { message: 'body is not a ConversionReview with a request' } };
    }
    const response = convert(request);
    const failed = response.result.status === 'Failure';
    this.options.metrics.admissions.inc({ webhook: 'conversion', verdict: failed ? 'error' : 'allowed' });
    if (failed) this.options.log.info({ result: response.result }, 'conversion failed');
    return {
      status: 200,
      payload: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', response },
    };
  }

  private handle(path: string, body: string): { status: number; payload: unknown } {
    if (path === CONVERSION_PATH) return this.handleConversion(body);
    const webhook = this.options.webhooks.find((w) => w.path === path);
    if (!webhook) return { status: 404, payload: { message: `no webhook at ${path}` } };
    let request: AdmissionRequest | undefined;
    try {
      request = (JSON.parse(body) as { request?: AdmissionRequest }).request;
    } catch {
      request = undefined;
    }
    if (!request || typeof request.uid !== 'string') {
      this.options.metrics.admissions.inc({ webhook: webhook.name, verdict: 'error' });
      return { status: 400, payload: { message: 'body is not an AdmissionReview with a request' } };
    }
    const { response, verdict } = review(webhook, request, (u) => this.options.operatorUsernames.has(u));
    this.options.metrics.admissions.inc({ webhook: webhook.name, verdict });
    if (verdict !== 'allowed') {
      this.options.log.info(
        { webhook: webhook.name, verdict, message: response.status?.message },
        'admission',
      );
    }
    return { status: 200, payload: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } };
  }

  /** Listens until the signal fires; resolves once listening. */
  async start(signal: AbortSignal): Promise<void> {
    const pair = await this.options.tls.sync();
    this.current = pair;
    const maxBody = this.options.maxBodyBytes ?? 8 * 1024 * 1024;
    const server = createServer({ cert: pair.certPem, key: pair.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          res.writeHead(413).end();
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => {
        if (res.writableEnded) return;
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        const out =
          req.method === 'POST'
            ? this.handle(path, Buffer.concat(chunks).toString('utf8'))
            : { status: 405, payload: { message: 'POST an AdmissionReview' } };
        res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.payload));
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.listening = true;
    const timer = setInterval(() => {
      this.refresh().catch((err: unknown) =>
        this.options.log.warn({ err: (err as Error).message }, 'webhook certificate check failed'),
      );
    }, this.options.certCheckIntervalMs ?? 3_600_000);
    timer.unref();
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(timer);
        this.listening = false;
        server.close();
        server.closeAllConnections();
      },
      { once: true },
    );
    await this.register(pair);
  }
}
