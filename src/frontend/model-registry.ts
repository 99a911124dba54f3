// Which models the frontend serves, from discovery. A model is a name; behind it stand one or more
// *instance sets* (DESIGN §12): the instances of one endpoint that serve the model in one role (agg,
// prefill or decode), each with a live view of its instances and a router of its own. A model served by
// a prefill and a decode component, or by two aggregated components, has several sets, and every set
// is routed to. A model appears with its first set and goes with its last; its tokenizer and chat
// template are fetched lazily from a worker, once per checksum.
//
// Parked models (scale to zero, src/runtime/standby.ts): a standby card (endpoint `standby`, registered
// under the planner's lease) keeps a model listed while it has no instance set; no router is built for
// it. Requests for a parked model wait in the frontend (waiting-room.ts) until a set that decodes has an
// instance. `onChange` tells the waiting room whenever a model's instances or sets change.
import type { Registry } from 'prom-client';
import type {
  DisaggregationMode,
  EndpointId,
  Instance,
  InstanceId,
  ModelCard,
  ModelFile,
} from '../api/index.js';
import { ENDPOINTS, modelFileSchema } from '../api/index.js';
import type { ModelResourceCache, ModelResources } from '../llm/model-resources.js';
import { createRouter, type Router, type RouterSettings } from '../router/index.js';
import { isStandbyEndpoint, type Logger, type Runtime, type Watch } from '../runtime/index.js';

export class InstanceSet {
  constructor(
    /** The card of the set's first instance. */
    readonly card: ModelCard,
    readonly endpoint: EndpointId,
    readonly router: Router,
    private readonly watch: Watch,
    /** The live instances of the set (kept by the watch). */
    readonly instances: ReadonlyMap<InstanceId, Instance>,
  ) {}

  get mode(): DisaggregationMode {
    return this.card.disaggregationMode;
  }

  async close(): Promise<void> {
    this.watch.close();
    await this.router.close();
  }
}

function setKey(endpoint: EndpointId, mode: DisaggregationMode): string {
  return `${endpoint.namespace}/${endpoint.component}/${endpoint.endpoint}#${mode}`;
}

export class ServedModel {
  /** By endpoint and role. */
  readonly sets = new Map<string, InstanceSet>();
  /** Standby cards by endpoint and role: the model is kept listed by them while it has no set. */
  readonly standby = new Map<string, ModelCard>();
  /** The last standby card removed: the card while the set that replaced it is still being set up. */
  lastStandby: ModelCard | undefined;

  constructor(readonly name: string) {}

  /** The card requests are preprocessed with: a set that decodes (agg or decode) before a prefill one. */
  get card(): ModelCard {
    let fallback: ModelCard | undefined;
    for (const set of this.sets.values()) {
      if (set.mode !== 'prefill') return set.card;
      fallback ??= set.card;
    }
    fallback ??= this.standby.values().next().value ?? this.lastStandby;
    if (fallback === undefined) throw new Error(`model ${this.name} has no instance set`);
    return fallback;
  }

  /** Whether a request can be routed now: an instance of a set that decodes (agg or decode). */
  get routable(): boolean {
    for (const set of this.sets.values()) if (set.mode !== 'prefill' && set.instances.size > 0) return true;
    return false;
  }

  /** Listed through a standby card and not routable: requests wait for a worker (scale to zero). */
  get parked(): boolean {
    // No set at all: a standby card just gave way to a set that is still being set up (or none left).
    return (this.standby.size > 0 || this.sets.size === 0) && !this.routable;
  }

  /** The sets of one role. */
  setsOf(mode: DisaggregationMode): InstanceSet[] {
    return [...this.sets.values()].filter((s) => s.mode === mode);
  }

  /** Every set's live instances. */
  get instances(): ReadonlyMap<InstanceId, Instance> {
    if (this.sets.size === 1) return (this.sets.values().next().value as InstanceSet).instances;
    const all = new Map<InstanceId, Instance>();
    for (const set of this.sets.values()) for (const [id, i] of set.instances) all.set(id, i);
    return all;
  }

  /** Live instances of the sets of one role. */
  instanceCount(mode: DisaggregationMode): number {
    let n = 0;
    for (const set of this.sets.values()) if (set.mode === mode) n += set.instances.size;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sets.values()].map((s) => s.close()));
    this.sets.clear();
  }
}

export interface ModelRegistryOptions {
  runtime: Pick<Runtime, 'discovery' | 'requestPlane' | 'eventPlane'>;
  resources: ModelResourceCache;
  router: RouterSettings;
  /** The frontend's metrics registry: the routers' metrics go there too. */
  registry: Registry;
  log: Logger;
  /** Called with a model's name whenever its sets, standby cards or instances change. */
  onChange?: (model: string) => void;
}

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  /** Sets being set up (router, instance watch), so that a quick removal can cancel them. */
  private readonly starting = new Map<string, { cancelled: boolean }>();
  private modelWatch: Watch | undefined;

  constructor(private readonly options: ModelRegistryOptions) {}

  /** Starts watching; resolves once the models that exist now are ready to serve. */
  async start(namespace: string | undefined): Promise<void> {
    const pending: Promise<void>[] = [];
    this.modelWatch = await this.options.runtime.discovery.watchModels((event) => {
      if (isStandbyEndpoint(event.endpoint)) {
        if (event.kind === 'added') this.addStandby(event.card, event.endpoint);
        else this.removeStandby(event.name, event.endpoint, event.mode);
      } else if (event.kind === 'added') pending.push(this.addSet(event.card, event.endpoint));
      else void this.removeSet(event.name, event.endpoint, event.mode);
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
    const models = [...this.models.values()];
    this.models.clear();
    await Promise.all(models.map((m) => m.close()));
  }

  private changed(model: string): void {
    this.options.onChange?.(model);
  }

  private addStandby(card: ModelCard, endpoint: EndpointId): void {
    let model = this.models.get(card.name);
    if (model === undefined) {
      model = new ServedModel(card.name);
      this.models.set(card.name, model);
    }
    model.standby.set(setKey(endpoint, card.disaggregationMode), card);
    this.options.log.info(
      { model: card.name, endpoint },
      'standby card: the model stays listed without workers',
    );
    this.changed(card.name);
  }

  private removeStandby(name: string, endpoint: EndpointId, mode: DisaggregationMode): void {
    const model = this.models.get(name);
    const key = setKey(endpoint, mode);
    const card = model?.standby.get(key);
    if (model === undefined || card === undefined) return;
    model.standby.delete(key);
    model.lastStandby = card;
    // A worker's set being set up keeps the model (its standby card goes as soon as the worker is up,
    // possibly before this frontend has its router): no 404 in between, waiters stay.
    if (model.sets.size === 0 && model.standby.size === 0 && !this.startingFor(name))
      this.models.delete(name);
    this.options.log.info({ model: name, endpoint }, 'standby card removed');
    this.changed(name);
  }

  private async addSet(card: ModelCard, endpoint: EndpointId): Promise<void> {
    const { runtime, log } = this.options;
    const mode = card.disaggregationMode;
    const startKey = `${card.name}\u0000${setKey(endpoint, mode)}`;
    const state = { cancelled: false };
    this.starting.set(startKey, state);
    try {
      const router = await createRouter(
        this.options.router,
        {
          name: card.name,
          endpoint,
          blockSize: card.kvCacheBlockSize,
          totalKvBlocks: card.totalKvBlocks,
          maxNumSeqs: card.maxNumSeqs,
        },
        runtime,
        { log, registry: this.options.registry },
      );
      // Several models (and roles) may share an endpoint: an instance is in this set only if its card
      // names this model and this role.
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
            if (served?.name === card.name && served.disaggregationMode === mode) {
              instances.set(id, event.instance);
              this.changed(card.name);
            }
          },
          (err: unknown) => log.warn({ err, model: card.name, instance: id }, 'reading a model card failed'),
        );
        initial?.push(lookup);
      });
      // The instances there now are known before the set is served.
      await Promise.all(initial);
      initial = undefined;
      const set = new InstanceSet(card, endpoint, router, watch, instances);
      if (state.cancelled) {
        await set.close();
        return;
      }
      let model = this.models.get(card.name);
      if (model === undefined) {
        model = new ServedModel(card.name);
        this.models.set(card.name, model);
      }
      await model.sets.get(setKey(endpoint, mode))?.close();
      model.sets.set(setKey(endpoint, mode), set);
      this.changed(card.name);
      log.info(
        { model: card.name, endpoint, mode, sets: model.sets.size, router: this.options.router.mode },
        'model instance set added',
      );
    } catch (err) {
      log.error({ err, model: card.name, endpoint, mode }, 'setting up a model instance set failed');
    } finally {
      if (this.starting.get(startKey) === state) this.starting.delete(startKey);
      // Kept for this set only (removeStandby): none came, so the model goes unless something else holds it.
      const model = this.models.get(card.name);
      if (model && model.sets.size === 0 && model.standby.size === 0 && !this.startingFor(card.name)) {
        this.models.delete(card.name);
        this.changed(card.name);
      }
    }
  }

  /** Whether a set of the model is being set up. */
  private startingFor(name: string): boolean {
    for (const key of this.starting.keys()) if (key.startsWith(`${name}\u0000`)) return true;
    return false;
  }

  private async removeSet(name: string, endpoint: EndpointId, mode: DisaggregationMode): Promise<void> {
    const starting = this.starting.get(`${name}\u0000${setKey(endpoint, mode)}`);
    if (starting) starting.cancelled = true;
    const model = this.models.get(name);
    const set = model?.sets.get(setKey(endpoint, mode));
    if (model === undefined || set === undefined) return;
    model.sets.delete(setKey(endpoint, mode));
    if (model.sets.size === 0 && model.standby.size === 0) this.models.delete(name);
    this.changed(name);
    await set.close();
    this.options.log.info(
      { model: name, endpoint, mode, sets: model.sets.size },
      'model instance set removed',
    );
  }

  private async fetchFile(model: ServedModel, file: ModelFile['file']): Promise<ModelFile> {
    const { runtime, log } = this.options;
    let lastError: unknown = new Error(`no worker serves ${ENDPOINTS.modelFiles} for model ${model.name}`);
    for (const set of model.sets.values()) {
      const filesEndpoint = { ...set.endpoint, endpoint: ENDPOINTS.modelFiles };
      const candidates = await runtime.discovery.list(filesEndpoint);
      // Prefer a worker of this set (same process, same instance id).
      const ordered = [
        ...candidates.filter((c) => set.instances.has(c.instanceId)),
        ...candidates.filter((c) => !set.instances.has(c.instanceId)),
      ];
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
    }
    throw lastError;
  }
}
