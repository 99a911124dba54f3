// GET /v1/models (and /v1/models/:model): the models discovery knows, as OpenAI lists them.
import type { FastifyInstance } from 'fastify';
import type { ModelList } from '../../api/openai.js';
import { HttpError } from '../errors.js';
import type { ServedModel } from '../model-registry.js';

const entry = (m: ServedModel, created: number) => ({
  id: m.card.name,
  object: 'model' as const,
  created,
  owned_by: 'dynamo',
});

export async function modelsRoute(app: FastifyInstance): Promise<void> {
  // Models have no creation time in discovery; the frontend's start stands in for it.
  const created = Math.floor(Date.now() / 1000);
  app.get('/v1/models', async (): Promise<ModelList> => {
    return { object: 'list', data: app.services.registry.list().map((m) => entry(m, created)) };
  });
  app.get<{ Params: { model: string } }>('/v1/models/:model', async (request) => {
    const model = app.services.registry.get(request.params.model);
    if (!model) {
      throw new HttpError(
        'MODEL_NOT_FOUND',
        `model ${JSON.stringify(request.params.model)} does not exist`,
        'model',
      );
    }
    return entry(model, created);
  });
}
