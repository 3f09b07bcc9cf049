export type { Script, ScriptError, ScriptRaw, ScriptReply, ScriptRequest, ScriptStep, ScriptToolCall } from './script.ts';
export { scriptedModel } from './scriptedModel.ts';
export { startScriptedServer, type ParsedRequest, type ScriptedServer } from './scriptedServer.ts';
