// Statecraft's types use Node's (Buffer, node:crypto keys, node:http): a TypeScript project that
// imports it gets them from @types/node, whatever its tsconfig's `types` says.
/// <reference types="node" preserve="true" />
export type { Script, ScriptError, ScriptRaw, ScriptReply, ScriptRequest, ScriptStep, ScriptToolCall } from './script.ts';
export { scriptedModel } from './scriptedModel.ts';
export { startScriptedServer, type ParsedRequest, type ScriptedServer } from './scriptedServer.ts';
export { bagOfWords, type EmbeddingRequest } from './scriptedEmbeddings.ts';
