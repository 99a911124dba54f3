// The preprocessor's refusals, and prompt token ids outside the model's vocabulary, as HTTP errors
// from the catalogue.
import type { CompletionRequest } from '../api/openai.js';
import { PromptError } from '../llm/preprocessor.js';
import { formatPath, HttpError } from './errors.js';

/** `promptParam`: the field a too-long prompt came from (OpenAI names `messages` or `prompt`). */
export function preprocessOrThrow<T>(run: () => T, promptParam: 'messages' | 'prompt'): T {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof PromptError)) throw err;
    switch (err.kind) {
      case 'context_too_long':
        throw new HttpError('CONTEXT_LENGTH_EXCEEDED', err.message, err.param ?? promptParam);
      case 'no_chat_template':
        throw new HttpError('MODEL_TYPE_NOT_SUPPORTED', err.message, err.param);
      default:
        throw new HttpError('INVALID_REQUEST', err.message, err.param);
    }
  }
}

/**
 * Token ids a client sent must index the model's vocabulary (an engine would read past its embedding
 * table, or sample garbage); the 400 names the first bad one by its place. Unchecked when the card
 * does not say its vocabulary size (workers from before it).
 */
export function checkPromptTokenIds(
  prompt: CompletionRequest['prompt'],
  vocabSize: number | undefined,
): void {
  if (vocabSize === undefined || typeof prompt === 'string') return;
  const check = (ids: readonly unknown[], path: (string | number)[]) => {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (typeof id === 'number' && id >= vocabSize) {
        const param = formatPath([...path, i]);
        throw new HttpError(
          'INVALID_REQUEST',
          `${param}: token id ${id} is outside the vocabulary (size ${vocabSize})`,
          param,
        );
      }
      if (Array.isArray(id)) check(id, [...path, i]);
    }
  };
  check(prompt, ['prompt']);
}
