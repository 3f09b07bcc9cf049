import { UserError } from '../errors.ts';
import { createOpenAIModel } from '../model/openaiModel.ts';
import type { ModelPort } from '../protocol/model.ts';

/** A model port from a port, a model name, or the environment (OPENAI_API_KEY, OPENAI_BASE_URL, STATECRAFT_MODEL). */
export function resolveModel(model: ModelPort | string | undefined): ModelPort {
  if (model !== undefined && typeof model !== 'string') return model;
  if (!process.env.OPENAI_API_KEY && !process.env.OPENAI_BASE_URL) {
    throw new UserError(
      'No model is configured: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL for Ollama, vLLM or another ' +
        'OpenAI-compatible server), or pass a model port such as createOpenAIModel({ baseURL, model }) to the agent or run.',
    );
  }
  return createOpenAIModel(model === undefined ? {} : { model });
}
