// What a server (or an intermediary that reads bodies) checks on every modern request before acting on it.
import { HEADERS, LOGGING_LEVELS, MCP_NAME_SOURCE, META_KEYS, METHODS, MODERN_PROTOCOL_VERSIONS } from './protocol.ts'
import { decodeHeaderValue, isValidFieldValue, readHeader, type HeaderSource } from './header-values.ts'
import { headerMismatch, invalidParams, invalidRequest, unsupportedProtocolVersion, type ErrorAnswer } from './error-answers.ts'
import { checkMcpParamHeaders } from './x-mcp-header.ts'
import type { JsonObject, JsonRpcErrorResponse, JsonRpcNotification, ModernRequest, RequestId, Tool } from './types.ts'
import { isJsonObject } from '../json-object.ts'

export interface ValidateModernRequestOptions {
  /** Versions this server accepts; default {@link MODERN_PROTOCOL_VERSIONS}. */
  supportedVersions?: readonly string[]
  /** The server's tool by name, so `Mcp-Param-*` headers of a `tools/call` are checked against its `x-mcp-header` arguments. */
  toolFor?: (name: string) => Tool | undefined
}

export type ModernValidation =
  | { ok: true, kind: 'request', request: ModernRequest, protocolVersion: string }
  | { ok: true, kind: 'notification', notification: JsonRpcNotification }
  | { ok: false, status: number, error: JsonRpcErrorResponse }

function isRequestId (value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))
}

function reject (answer: ErrorAnswer): ModernValidation {
  return { ok: false, status: answer.status, error: answer.body }
}

/**
 * Checks a parsed modern request body and its headers as the specification requires of a server, in this order:
 * JSON-RPC shape (-32600); `MCP-Protocol-Version` present and well-formed (-32020); required `_meta` fields (-32602);
 * header equal to `_meta` (-32020); version supported (-32022, `data: { supported, requested }`); `Mcp-Method`,
 * `Mcp-Name`, `Mcp-Param-*` present and equal to the body after decoding (-32020). Every failure is HTTP 400.
 * Notifications carry no header requirements in 2026-07-28 and are returned as they are.
 * @see basic/transports/streamable-http.mdx § Request Metadata, § Server Validation
 * @see basic/index.mdx § `_meta` (per-request protocol fields)
 */
export function validateModernRequest (headers: HeaderSource, body: unknown, options: ValidateModernRequestOptions = {}): ModernValidation {
  const supportedVersions = options.supportedVersions ?? MODERN_PROTOCOL_VERSIONS
  // @see streamable-http.mdx § Sending Messages: a single request or notification, never a response or a batch.
  if (!isJsonObject(body)) return reject(invalidRequest(undefined, Array.isArray(body) ? 'batches are not supported' : 'the body must be a JSON-RPC object'))
  const rawId = body['id']
  const id = isRequestId(rawId) ? rawId : undefined
  if (body['jsonrpc'] !== '2.0') return reject(invalidRequest(id, 'jsonrpc must be "2.0"'))
  const method = body['method']
  if (typeof method !== 'string') {
    const isResponse = 'result' in body || 'error' in body
    return reject(invalidRequest(id, isResponse ? 'clients must not send JSON-RPC responses' : 'method must be a string'))
  }
  const params = body['params']
  if (params !== undefined && !isJsonObject(params)) return reject(invalidRequest(id, 'params must be an object'))
  if (!('id' in body)) {
    return { ok: true, kind: 'notification', notification: { jsonrpc: '2.0', method, ...(params !== undefined && { params }) } }
  }
  // @see basic/index.mdx § Requests: a string or integer id, never null.
  if (id === undefined) return reject(invalidRequest(undefined, 'id must be a string or an integer'))

  const versionHeader = readHeader(headers, HEADERS.protocolVersion)
  if (versionHeader === undefined) {
    // A legacy `initialize` lands here: name the versions, it is all a legacy client can show. @see basic/versioning.mdx § Backward Compatibility…
    const data = method === METHODS.initialize ? { supported: [...supportedVersions] } : undefined
    const hint = data === undefined ? '' : `; this server speaks MCP ${supportedVersions.join(', ')} and has no initialize handshake`
    return reject(headerMismatch(id, `MCP-Protocol-Version header is required${hint}`, data))
  }
  if (!isValidFieldValue(versionHeader)) return reject(headerMismatch(id, 'MCP-Protocol-Version header has invalid characters'))

  const meta = isJsonObject(params) ? params['_meta'] : undefined
  const metaProblem = checkRequestMeta(meta)
  if (metaProblem !== undefined) return reject(invalidParams(id, metaProblem))
  const requestMeta = meta as JsonObject
  const protocolVersion = requestMeta[META_KEYS.protocolVersion] as string
  if (versionHeader !== protocolVersion) return reject(headerMismatch(id, 'MCP-Protocol-Version header does not match _meta'))
  if (!supportedVersions.includes(protocolVersion)) return reject(unsupportedProtocolVersion(id, protocolVersion, supportedVersions))

  const methodHeader = readHeader(headers, HEADERS.method)
  if (methodHeader === undefined) return reject(headerMismatch(id, 'Mcp-Method header is required'))
  if (methodHeader !== method) return reject(headerMismatch(id, 'Mcp-Method header does not match the body'))

  const requestParams = params as JsonObject
  const nameField = MCP_NAME_SOURCE[method]
  if (nameField !== undefined) {
    const bodyName = requestParams[nameField]
    if (typeof bodyName !== 'string') return reject(invalidParams(id, `params.${nameField} must be a string`))
    const nameHeader = readHeader(headers, HEADERS.name)
    if (nameHeader === undefined) return reject(headerMismatch(id, 'Mcp-Name header is required'))
    const decoded = decodeHeaderValue(nameHeader)
    if (decoded === undefined) return reject(headerMismatch(id, 'Mcp-Name header is malformed'))
    if (decoded !== bodyName) return reject(headerMismatch(id, `Mcp-Name header does not match params.${nameField}`))
  }

  if (method === METHODS.toolsCall && options.toolFor !== undefined) {
    const tool = options.toolFor(requestParams['name'] as string)
    const args = requestParams['arguments']
    const problem = tool === undefined ? undefined : checkMcpParamHeaders(headers, tool, isJsonObject(args) ? args : undefined)
    if (problem !== undefined) return reject(headerMismatch(id, problem))
  }

  return { ok: true, kind: 'request', request: { jsonrpc: '2.0', id, method, params: requestParams as ModernRequest['params'] }, protocolVersion }
}

/** What is wrong with a request's `_meta`, or undefined. @see basic/index.mdx § `_meta` */
function checkRequestMeta (meta: unknown): string | undefined {
  if (!isJsonObject(meta)) return 'params._meta is required'
  const version = meta[META_KEYS.protocolVersion]
  if (typeof version !== 'string' || version === '') return `_meta["${META_KEYS.protocolVersion}"] is required`
  if (!isJsonObject(meta[META_KEYS.clientCapabilities])) return `_meta["${META_KEYS.clientCapabilities}"] is required`
  const clientInfo = meta[META_KEYS.clientInfo]
  if (clientInfo !== undefined && !(isJsonObject(clientInfo) && typeof clientInfo['name'] === 'string' && typeof clientInfo['version'] === 'string')) {
    return `_meta["${META_KEYS.clientInfo}"] needs a name and a version`
  }
  const logLevel = meta[META_KEYS.logLevel]
  if (logLevel !== undefined && (typeof logLevel !== 'string' || !LOGGING_LEVELS.includes(logLevel))) return `_meta["${META_KEYS.logLevel}"] is not a logging level`
  const progressToken = meta[META_KEYS.progressToken]
  if (progressToken !== undefined && !isRequestId(progressToken)) return '_meta.progressToken must be a string or an integer'
  return undefined
}
