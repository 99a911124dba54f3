// Which models the frontend serves, from discovery: a model appears with its first worker's card and
// goes with its last (the runtime's model watcher), and each model keeps a live view of the instances
// of the endpoint that serves it. Tokenizer and chat template are fetched lazily from a worker, once.
import type { EndpointId, Instance, InstanceId, ModelCard, ModelFile } from '../api/index.js';
import { ENDPOINTS, modelFileSchema } from '../api/index.js';
import type { ModelResourceCache, ModelResources } from '../llm/model-resources.js';
import type { Discovery, Logger, RequestPlane, Watch } from '../runtime/index.js';

export class ServedModel {
  readonly instances = new Map<InstanceId, Instance>();
  /** Set once the instance watch is up; closed when the model goes. */
  watch: Watch | undefined;
  closed = false;

  constructor(
    readonly card: ModelCard,
    readonly endpoint: EndpointId,
  ) {}
}

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  private modelWatch: Watch | undefined;

  constructor(
    private readonly discovery: Discovery,
    private readonly requestPlane: RequestPlane,
    private readonly resources: ModelResourceCache,
    private readonly log: Logger,
  ) {}

  /** Starts watching; resolves once the models that exist now are known. */
  async start(namespace: string | undefined): Promise<void> {
    const pending: Promise<void>[] = [];
    this.modelWatch = await this.discovery.watchModels((event) => {
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
    return this.resources.get(model.card, (file) => this.fetchFile(model, file));
  }

  close(): void {
    this.modelWatch?.close();
    for (const name of [...this.models.keys()]) this.remove(name);
  }

  private async add(card: ModelCard, endpoint: EndpointId): Promise<void> {
    const model = new ServedModel(card, endpoint);
    this.models.set(card.name, model);
    this.log.info({ model: card.name, endpoint }, 'model added');
    try {
      const watch = await this.discovery.watchInstances(endpoint, (event) => {
        if (event.kind === 'added') model.instances.set(event.instance.instanceId, event.instance);
        else model.instances.delete(event.instance.instanceId);
      });
      if (model.closed) watch.close();
      else model.watch = watch;
    } catch (err) {
      this.log.error({ err, model: card.name }, 'watching the instances of a model failed');
    }
  }

  private remove(name: string): void {
    const model = this.models.get(name);
    if (!model) return;
    model.closed = true;
    model.watch?.close();
    this.models.delete(name);
    this.log.info({ model: name }, 'model removed');
  }

  private async fetchFile(model: ServedModel, file: ModelFile['file']): Promise<ModelFile> {
    const filesEndpoint = { ...model.endpoint, endpoint: ENDPOINTS.modelFiles };
    const candidates = await this.discovery.list(filesEndpoint);
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
        const frames = this.requestPlane.call(instance, { file }, { responseSchema: modelFileSchema });
        for await (const frame of frames) {
          content += frame.content;
          checksum = frame.checksum;
        }
        if (checksum !== undefined) return { file, checksum, content };
        lastError = new Error(`${file}: the worker answered nothing`);
      } catch (err) {
        lastError = err;
        this.log.warn({ err, file, instance: instance.instanceId }, 'fetching a model file failed');
      }
    }
    throw lastError;
  }
}
