// Which models the frontend serves, from discovery: a model appears with its first worker's card and
// goes with its last (the runtime's model watcher). Each model keeps a live view of the instances of
// the endpoint that serves it and a router of its own; its tokenizer and chat template are fetched
// lazily from a worker, once per checksum.
import type { Registry } from 'prom-client';
import type { EndpointId, Instance, InstanceId, ModelCard, ModelFile } from '../api/index.js';
import { ENDPOINTS, modelFileSchema } from '../api/index.js';
import type { ModelResourceCache, ModelResources } from '../llm/model-resources.js';
import { createRouter, type Router, type RouterSettings } from '../router/index.js';
import type { Logger, Runtime, Watch } from '../runtime/index.js';

export class ServedModel {
  constructor(
    readonly card: ModelCard,
    readonly endpoint: EndpointId,
    readonly router: Router,
    private readonly watch: Watch,
    /** The live instances of the model's generate endpoint (kept by the watch). */
    readonly instances: ReadonlyMap<InstanceId, Instance>,
  ) {}

  async close(): Promise<void> {
    this.watch.close();
    await this.router.close();
  }
}

export interface ModelRegistryOptions {
  runtime: Pick<Runtime, 'discovery' | 'requestPlane' | 'eventPlane'>;
  resources: ModelResourceCache;
  router: RouterSettings;
  /** The frontend's metrics registry: the routers' metrics go there too. */
  registry: Registry;
  log: Logger;
}

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  /** Models being set up (router, instance watch), so that a quick removal can cancel them. */
  private readonly starting = new Map<string, { cancelled: boolean }>();
  private modelWatch: Watch | undefined;

  constructor(private readonly options: ModelRegistryOptions) {}

  /** Starts watching; resolves once the models that exist now are ready to serve. */
  async start(namespace: string | undefined): Promise<void> {
    const pending: Promise<void>[] = [];
    this.modelWatch = await this.options.runtime.discovery.watchModels((event) => {
      if (event.kind === 'added') pending.push(this.add(event.card, event.endpoint));
      else this.remove(event.name);
    }, namespace);
    await Promise.all(pending);
  }

  get(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  list(): ServedModel[] {
    return [...this.models.values()];
  }

  /** The tokenizer and chat template of a model, fetched from one of its workers on first use. */
  resourcesOf(model: ServedModel): Promise<ModelResources> {
    return this.options.resources.get(model.card, (file) => this.fetchFile(model, file));
  }

  async close(): Promise<void> {
    this.modelWatch?.close();
    for (const s of this.starting.values()) s.cancelled = true;
    await Promise.all([...this.models.keys()].map((name) => this.remove(name)));
  }

  private async add(card: ModelCard, endpoint: EndpointId): Promise<void> {
    const { runtime, log } = this.options;
    const state = { cancelled: false };
    this.starting.set(card.name, state);
    try {
      const router = await createRouter(
        this.options.router,
        { name: card.name, endpoint, blockSize: card.kvCacheBlockSize, totalKvBlocks: card.totalKvBlocks },
        runtime,
        { log, registry: this.options.registry },
      );
      // Several models may share an endpoint: an instance serves this model only if its card says so.
      const instances = new Map<InstanceId, Instance>();
      const checking = new Map<InstanceId, Instance>();
      let initial: Promise<void>[] | undefined = [];
      const watch = await runtime.discovery.watchInstances(endpoint, (event) => {
        const id = event.instance.instanceId;
        if (event.kind === 'removed') {
          checking.delete(id);
          instances.delete(id);
          return;
        }
        checking.set(id, event.instance);
        const lookup = runtime.discovery.modelCard(endpoint, id).then(
          (served) => {
            // Still the same registration (not removed or replaced meanwhile)?
            if (checking.get(id) !== event.instance) return;
            checking.delete(id);
            if (served?.name === card.name) instances.set(id, event.instance);
          },
          (err: unknown) => log.warn({ err, model: card.name, instance: id }, 'reading a model card failed'),
        );
        initial?.push(lookup);
      });
      // The instances there now are known before the model is served.
      await Promise.all(initial);
      initial = undefined;
      const model = new ServedModel(card, endpoint, router, watch, instances);
      if (state.cancelled) {
        await model.close();
        return;
      }
      this.models.set(card.name, model);
      log.info({ model: card.name, endpoint, router: this.options.router.mode }, 'model added');
    } catch (err) {
      log.error({ err, model: card.name }, 'setting up a model failed');
    } finally {
      if (this.starting.get(card.name) === state) this.starting.delete(card.name);
    }
  }

  private async remove(name: string): Promise<void> {
    const starting = this.starting.get(name);
    if (starting) starting.cancelled = true;
    const model = this.models.get(name);
    if (!model) return;
    this.models.delete(name);
    await model.close();
    this.options.log.info({ model: name }, 'model removed');
  }

  private async fetchFile(model: ServedModel, file: ModelFile['file']): Promise<ModelFile> {
    const { runtime, log } = this.options;
    const filesEndpoint = { ...model.endpoint, endpoint: ENDPOINTS.modelFiles };
    const candidates = await runtime.discovery.list(filesEndpoint);
    // Prefer a worker that serves this model's generate endpoint (same process, same instance id).
    const ordered = [
      ...candidates.filter((c) => model.instances.has(c.instanceId)),
      ...candidates.filter((c) => !model.instances.has(c.instanceId)),
    ];
    let lastError: unknown = new Error(
      `no worker serves ${filesEndpoint.endpoint} for model ${model.card.name}`,
    );
    for (const instance of ordered) {
      try {
        // A file comes in slices (frames far below the payload limit); the checksum covers the whole.
        let content = '';
        let checksum: string | undefined;
        const frames = runtime.requestPlane.call(instance, { file }, { responseSchema: modelFileSchema });
        for await (const frame of frames) {
          content += frame.content;
          checksum = frame.checksum;
        }
        if (checksum !== undefined) return { file, checksum, content };
        lastError = new Error(`${file}: the worker answered nothing`);
      } catch (err) {
        lastError = err;
        log.warn({ err, file, instance: instance.instanceId }, 'fetching a model file failed');
      }
    }
    throw lastError;
  }
}
