// The preprocessor's refusals, as HTTP errors from the catalogue.
import { PromptError } from '../llm/preprocessor.js';
import { HttpError } from './errors.js';

export function preprocessOrThrow<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof PromptError)) throw err;
    switch (err.kind) {
      case 'context_too_long':
        throw new HttpError('CONTEXT_TOO_LONG', err.message, err.param);
      case 'no_chat_template':
        throw new HttpError('MODEL_TYPE_NOT_SUPPORTED', err.message, err.param);
      default:
        throw new HttpError('INVALID_REQUEST', err.message, err.param);
    }
  }
}
