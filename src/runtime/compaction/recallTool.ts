import { z } from 'zod';
import { defineTool } from '../../tools/defineTool.ts';
import { RECALL_TOOL } from './strategy.ts';

/** The tool an agent whose compaction elides tool outputs is offered, to read one of them back. */
export const recallTool = defineTool({
  name: RECALL_TOOL,
  description: 'Read again the full output of an earlier tool call that was elided from the conversation to save context. Pass the id its placeholder names.',
  parameters: z.object({ id: z.string() }),
  idempotent: true,
  execute: ({ id }, ctx) => {
    const output = ctx.elidedOutput?.(id);
    if (output === undefined) throw new Error(`No elided tool output has id ${JSON.stringify(id)}. Use the id written in the placeholder of the output you want.`);
    return output;
  },
});
