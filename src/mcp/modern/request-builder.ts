// A modern JSON-RPC request: the method's params plus the per-request `_meta` every request must carry.
import { JSONRPC_VERSION, LATEST_MODERN_PROTOCOL_VERSION, META_KEYS } from './protocol.ts'
import type { ClientCapabilities, Implementation, JsonObject, ModernRequest, ProgressToken, RequestId, RequestMeta } from './types.ts'

export interface RequestMetaInput {
  /** Default {@link LATEST_MODERN_PROTOCOL_VERSION}. */
  protocolVersion?: string
  /** Default `{}`: no optional capability. */
  clientCapabilities?: ClientCapabilities
  clientInfo?: Implementation
  progressToken?: ProgressToken
  /** Further `_meta` keys (trace context, extensions); the protocol keys above win. */
  extra?: JsonObject
}

/**
 * `{ jsonrpc, id, method, params: { ...params, _meta } }` with the required per-request fields.
 * @see basic/index.mdx § `_meta` (per-request protocol fields)
 */
export function createModernRequest (id: RequestId, method: string, params: JsonObject, input: RequestMetaInput = {}): ModernRequest {
  const meta: RequestMeta = {
    ...input.extra,
    [META_KEYS.protocolVersion]: input.protocolVersion ?? LATEST_MODERN_PROTOCOL_VERSION,
    [META_KEYS.clientCapabilities]: input.clientCapabilities ?? {},
    ...(input.clientInfo !== undefined && { [META_KEYS.clientInfo]: input.clientInfo }),
    ...(input.progressToken !== undefined && { [META_KEYS.progressToken]: input.progressToken }),
  }
  return { jsonrpc: JSONRPC_VERSION, id, method, params: { ...params, _meta: meta } }
}
