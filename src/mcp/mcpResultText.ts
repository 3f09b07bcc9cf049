type Block = Record<string, unknown>;

const isBlock = (v: unknown): v is Block => typeof v === 'object' && v !== null && !Array.isArray(v);

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function base64Bytes(data: unknown): number {
  if (typeof data !== 'string') return 0;
  const clean = data.replace(/\s/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding);
}

function blockText(block: unknown): string {
  if (!isBlock(block)) return `[unreadable content block: ${JSON.stringify(block)}]`;
  switch (block.type) {
    case 'text':
      return str(block.text) ?? '';
    case 'image':
    case 'audio':
      return `[${block.type}: ${str(block.mimeType) ?? 'unknown type'}, ${base64Bytes(block.data)} bytes]`;
    case 'resource': {
      const resource = isBlock(block.resource) ? block.resource : {};
      const uri = str(resource.uri) ?? 'unknown uri';
      const mime = str(resource.mimeType);
      const text = str(resource.text);
      if (text !== undefined) return `[resource: ${uri}${mime ? `, ${mime}` : ''}]\n${text}`;
      return `[resource: ${uri}, ${mime ?? 'unknown type'}, ${base64Bytes(resource.blob)} bytes]`;
    }
    case 'resource_link': {
      const mime = str(block.mimeType);
      return `[resource link: ${str(block.name) ?? 'unnamed'} <${str(block.uri) ?? 'unknown uri'}>${mime ? `, ${mime}` : ''}]`;
    }
    default:
      return `[${String(block.type)} content]`;
  }
}

/** Turns an MCP `tools/call` result into the text the model reads: text blocks as they are, other blocks summarised. */
export function mcpResultText(result: Record<string, unknown>): string {
  const content = Array.isArray(result.content) ? result.content : [];
  if (content.length > 0) return content.map(blockText).join('\n');
  if (result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  if (result.toolResult !== undefined) {
    return typeof result.toolResult === 'string' ? result.toolResult : JSON.stringify(result.toolResult);
  }
  return '';
}
