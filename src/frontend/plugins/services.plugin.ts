// The frontend's infrastructure, decorated once on the root instance (fastify-plugin: not
// encapsulated) so every route plugin reaches it as `app.services`.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ModelType } from '../../api/index.js';
import type { ModelResources } from '../../llm/model-resources.js';
import { HttpError } from '../errors.js';
import type { FrontendMetrics } from '../metrics.js';
import type { ModelRegistry, ServedModel } from '../model-registry.js';
import type { Responder } from '../respond.js';
import type { WaitingRoom } from '../waiting-room.js';

export interface FrontendServices {
  registry: ModelRegistry;
  responder: Responder;
  metrics: FrontendMetrics;
  /** Requests waiting for a worker of a parked model (scale to zero). */
  waitingRoom: WaitingRoom;
  /**
   * The model a request names, ready to serve: 404, 400 (wrong type) or 503 otherwise. A parked model
   * (scaled to zero) is waited for first; `response` closing (the client left) ends the wait.
   */
  resolve(
    name: string,
    type: ModelType,
    response?: ServerResponse,
  ): Promise<{ model: ServedModel; resources: ModelResources }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: FrontendServices;
  }
}

export function createServices(
  registry: ModelRegistry,
  responder: Responder,
  metrics: FrontendMetrics,
  waitingRoom: WaitingRoom,
): FrontendServices {
  return {
    registry,
    responder,
    metrics,
    waitingRoom,
    async resolve(name, type, response) {
      let model = registry.get(name);
      if (model === undefined)
        throw new HttpError('MODEL_NOT_FOUND', `model ${JSON.stringify(name)} does not exist`, 'model');
      if (!model.card.modelTypes.includes(type)) {
        const what = type === 'chat' ? 'chat completions' : 'completions';
        throw new HttpError('MODEL_TYPE_NOT_SUPPORTED', `model ${name} does not serve ${what}`, 'model');
      }
      if (model.parked) {
        const left = new AbortController();
        const onClose = () => left.abort(new Error('the client disconnected while waiting for a worker'));
        response?.once('close', onClose);
        try {
          await waitingRoom.wait(name, left.signal);
        } finally {
          response?.off('close', onClose);
        }
        model = registry.get(name) ?? model;
      }
      // `routable` walks the sets; `instances` would build a merged map on every request.
      if (!model.routable) {
        throw new HttpError('NO_WORKER_FOR_MODEL', `no worker serves model ${name}`, 'model');
      }
      try {
        return { model, resources: await registry.resourcesOf(model) };
      } catch (err) {
        throw new HttpError(
          'NO_WORKER_FOR_MODEL',
          `the tokenizer of model ${name} could not be fetched from its workers: ${err instanceof Error ? err.message : String(err)}`,
          'model',
        );
      }
    },
  };
}

export const servicesPlugin = fp(
  async (app: FastifyInstance, opts: { services: FrontendServices }) => {
    app.decorate('services', opts.services);
  },
  { name: 'services', fastify: '5.x' },
);
