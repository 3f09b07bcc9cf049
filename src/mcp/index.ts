export { connectMcp } from './connectMcp.ts';
export type { McpConnection, McpOptions, McpSkippedTool, McpTransportOptions } from './connectMcp.ts';
