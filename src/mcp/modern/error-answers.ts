// The JSON-RPC errors a modern server answers with, each with the HTTP status the specification prescribes.
import { ERROR_CODES, JSONRPC_VERSION } from './protocol.ts'
import type { ClientCapabilities, JsonRpcErrorResponse, RequestId } from './types.ts'

export interface ErrorAnswer {
  status: number
  body: JsonRpcErrorResponse
}

/** An error answer; `id` is left out when the request's id could not be read. @see basic/index.mdx § Error Responses */
export function errorAnswer (status: number, id: RequestId | undefined, code: number, message: string, data?: unknown): ErrorAnswer {
  return {
    status,
    body: {
      jsonrpc: JSONRPC_VERSION,
      ...(id !== undefined && { id }),
      error: { code, message, ...(data !== undefined && { data }) },
    },
  }
}

export function parseError (): ErrorAnswer {
  return errorAnswer(400, undefined, ERROR_CODES.parseError, 'Parse error: the body is not JSON')
}

export function invalidRequest (id: RequestId | undefined, message: string): ErrorAnswer {
  return errorAnswer(400, id, ERROR_CODES.invalidRequest, `Invalid request: ${message}`)
}

/** Malformed params, including a missing required `_meta` field. @see basic/index.mdx § `_meta` */
export function invalidParams (id: RequestId, message: string): ErrorAnswer {
  return errorAnswer(400, id, ERROR_CODES.invalidParams, `Invalid params: ${message}`)
}

/** @see basic/transports/streamable-http.mdx § Server Validation */
export function headerMismatch (id: RequestId | undefined, message: string, data?: unknown): ErrorAnswer {
  return errorAnswer(400, id, ERROR_CODES.headerMismatch, `Header mismatch: ${message}`, data)
}

/** @see basic/versioning.mdx § Protocol Version Negotiation */
export function unsupportedProtocolVersion (id: RequestId, requested: string, supported: readonly string[]): ErrorAnswer {
  return errorAnswer(400, id, ERROR_CODES.unsupportedProtocolVersion, 'Unsupported protocol version', { supported: [...supported], requested })
}

/** `requiredCapabilities` is a `ClientCapabilities` object, e.g. `{ elicitation: {} }`. @see basic/index.mdx § `_meta` */
export function missingRequiredClientCapability (id: RequestId, requiredCapabilities: ClientCapabilities): ErrorAnswer {
  const names = Object.keys(requiredCapabilities).join(', ')
  return errorAnswer(400, id, ERROR_CODES.missingRequiredClientCapability, `Missing required client capability: ${names}`, { requiredCapabilities })
}

/**
 * 404 with -32601, which tells a modern server apart from a legacy endpoint's bare 404. For `initialize`, the
 * message names the supported versions: legacy clients cannot fall forward and can only show this text.
 * @see basic/transports/streamable-http.mdx § Protocol Version Header, basic/versioning.mdx § Backward Compatibility…
 */
export function methodNotFound (id: RequestId, method: string, supportedVersions: readonly string[]): ErrorAnswer {
  const hint = method === 'initialize' ? `; this server has no initialize handshake and speaks MCP ${supportedVersions.join(', ')}` : ''
  return errorAnswer(404, id, ERROR_CODES.methodNotFound, `Method not found: ${method.slice(0, 128)}${hint}`)
}
