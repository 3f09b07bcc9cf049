import { z } from 'zod';
import { ConflictError, ToolError } from '../errors.ts';
import { defineTool, type Tool, type ToolContext } from '../tools/defineTool.ts';
import { memoryScope, type AgentMemory, type AgentWorkingMemory } from './memoryOptions.ts';

/** The name of the tool that changes working memory. */
export const WORKING_MEMORY_TOOL = 'update_working_memory';

const runIdOf = (ctx: ToolContext) => ctx.runId;

/** The built-in tools of an agent's long-term memory: `remember`, and `forget` unless turned off. */
export function memoryTools(agent: string, memory: AgentMemory): Tool[] {
  const remember = defineTool({
    name: 'remember',
    description:
      'Save a note to long-term memory: a fact, preference or decision worth knowing in later conversations. ' +
      'Notes relevant to what the user says are shown to you in later requests. Keep each note short and self-contained.',
    parameters: z.object({
      text: z.string().min(1).max(2000).describe('The note, in one or two sentences.'),
      tags: z.array(z.string().max(50)).max(10).optional().describe('A few keywords.'),
    }),
    // Saving the same note again after a crash is harmless.
    idempotent: true,
    execute: async ({ text, tags }, ctx) => {
      const scope = memoryScope(memory.level, agent, ctx.identity, ctx.runId);
      const [embedding] = memory.embeddings?.embed ? await memory.embeddings.embed([text], { signal: ctx.signal }) : [];
      const note = await memory.store().remember({
        scope,
        text,
        tags: tags ?? [],
        runId: runIdOf(ctx),
        ...(ctx.identity?.user ? { writtenBy: ctx.identity.user } : {}),
        ...(embedding ? { embedding } : {}),
      });
      return `Saved note ${note.id}.`;
    },
  });
  if (!memory.forgetTool) return [remember];
  const forget = defineTool({
    name: 'forget',
    description: 'Delete a note from long-term memory by its id (shown in brackets with each recalled note), when it is wrong or the user asks.',
    parameters: z.object({ id: z.string().min(1).max(100) }),
    idempotent: true,
    execute: async ({ id }, ctx) => {
      const scope = memoryScope(memory.level, agent, ctx.identity, ctx.runId);
      const gone = await memory.store().forget(id, { tenant: scope.tenant ?? '', ...(scope.user ? { user: scope.user } : {}) });
      return gone ? `Deleted note ${id}.` : `No note ${id} in this memory: nothing was deleted.`;
    },
  });
  return [remember, forget];
}

/** Fields of a working memory schema, for the tool's description. */
const fieldsOf = (schema: z.ZodObject) =>
  Object.entries(schema.shape)
    .map(([name, field]) => `${name}${(field as z.ZodType).description ? ` (${(field as z.ZodType).description})` : ''}`)
    .join(', ');

/** The tool that changes an agent's working memory, checked against its schema: an invalid change is a result the model reads. */
export function workingMemoryTool(agent: string, working: AgentWorkingMemory): Tool {
  const partial = working.schema.partial();
  return defineTool({
    name: WORKING_MEMORY_TOOL,
    description:
      `Change your working memory (shown to you in every request). Fields: ${fieldsOf(working.schema)}. ` +
      'Give only the fields that change; the others stay as they are. With replace: true, the memory becomes exactly what you give.',
    parameters: z.object({ changes: partial, replace: z.boolean().optional() }),
    idempotent: true,
    execute: async ({ changes, replace }, ctx) => {
      const scope = memoryScope(working.level, agent, ctx.identity, ctx.runId);
      const store = working.store();
      for (let attempt = 1; ; attempt++) {
        const current = await store.working(scope);
        const merged = Object.fromEntries(Object.entries({ ...(replace ? {} : current?.value), ...changes }).filter(([, value]) => value !== undefined));
        const checked = partial.safeParse(merged);
        if (!checked.success) {
          throw new ToolError(`Working memory was not changed: ${checked.error.issues.map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`).join('; ')}.`);
        }
        try {
          const saved = await store.saveWorking(scope, checked.data, {
            expectedVersion: current?.version ?? 0,
            runId: ctx.runId,
            ...(ctx.identity?.user ? { writtenBy: ctx.identity.user } : {}),
          });
          return `Working memory is now version ${saved.version}: ${JSON.stringify(saved.value)}`;
        } catch (error) {
          // Another run changed it in between: the change is applied to its version instead.
          if (!(error instanceof ConflictError) || attempt >= 3) throw error;
        }
      }
    },
  });
}
