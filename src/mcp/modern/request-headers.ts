// The HTTP headers of a modern request, derived from its body.
import { ACCEPT_BOTH, MCP_NAME_SOURCE, META_KEYS, METHODS } from './protocol.ts'
import { encodeHeaderValue } from './header-values.ts'
import { mcpParamHeadersFor } from './x-mcp-header.ts'
import type { JsonObject, JsonRpcRequest, Tool } from './types.ts'

export interface ModernHeadersOptions {
  /** The called tool's definition, for its `x-mcp-header` arguments (`tools/call` only). */
  tool?: Tool
}

/**
 * Every header a client must send with a modern JSON-RPC request: `Content-Type`, `Accept`,
 * `MCP-Protocol-Version` (from `_meta`), `Mcp-Method`, `Mcp-Name` where required, and `Mcp-Param-*`.
 * Throws TypeError when the request lacks what these headers mirror.
 * @see basic/transports/streamable-http.mdx § Sending Messages, § Request Metadata
 */
export function modernHeadersFor (request: JsonRpcRequest, options: ModernHeadersOptions = {}): Record<string, string> {
  const params: JsonObject = request.params ?? {}
  const meta = params['_meta'] as JsonObject | undefined
  const version = meta?.[META_KEYS.protocolVersion]
  if (typeof version !== 'string') throw new TypeError('a modern request needs _meta["io.modelcontextprotocol/protocolVersion"]')
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: ACCEPT_BOTH,
    'MCP-Protocol-Version': version,
    'Mcp-Method': request.method,
  }
  const nameField = MCP_NAME_SOURCE[request.method]
  if (nameField !== undefined) {
    const name = params[nameField]
    if (typeof name !== 'string') throw new TypeError(`${request.method} needs params.${nameField}`)
    headers['Mcp-Name'] = encodeHeaderValue(name)
  }
  if (request.method === METHODS.toolsCall && options.tool !== undefined) {
    Object.assign(headers, mcpParamHeadersFor(options.tool, params['arguments'] as JsonObject | undefined))
  }
  return headers
}
