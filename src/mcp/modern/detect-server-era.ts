// Whether a downstream Streamable HTTP server is modern (2026-07-28) or legacy (initialize + sessions).
import { McpHttpError, McpInvalidResponseError, McpRpcError, McpTimeoutError } from './client-errors.ts'
import { mergeHeaders } from './header-values.ts'
import { postJsonRpc, type FetchLike } from './post-json-rpc.ts'
import { ACCEPT_BOTH, ERROR_CODES, HEADERS, LATEST_LEGACY_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS, METHODS, MODERN_ONLY_ERROR_CODES, MODERN_PROTOCOL_VERSIONS } from './protocol.ts'
import { createModernRequest } from './request-builder.ts'
import { modernHeadersFor } from './request-headers.ts'
import type { DiscoverResult, Implementation, Result } from './types.ts'
import { isJsonObject } from '../json-object.ts'

export interface DetectServerEraOptions {
  /** For the whole detection, every probe included; default 10 s. */
  timeoutMs?: number
  /** Per answer (JSON body or SSE event); default 1 MiB. */
  maxResponseBytes?: number
  signal?: AbortSignal
  /** Default `{ name: 'obo-relay', version: '0' }`. */
  clientInfo?: Implementation
  /**
   * Confirm a legacy answer with `initialize` (default true). A caller about to open its own legacy session
   * says false: the era is then known from the modern probe alone, and the version is negotiated by that session.
   */
  confirmLegacy?: boolean
}

export type ServerEra =
  | { era: 'modern', protocolVersion: string, supportedVersions: string[], discover?: DiscoverResult }
  | { era: 'legacy', protocolVersion: string, serverInfo?: Implementation }

function isDiscoverResult (result: Result): result is DiscoverResult {
  return Array.isArray(result['supportedVersions']) && (result['supportedVersions'] as unknown[]).every((version) => typeof version === 'string') && isJsonObject(result['capabilities'])
}

/** A JSON-RPC error only a modern server answers with: its own codes, or -32601 with 404. @see basic/transports/streamable-http.mdx § Backward Compatibility */
function isRecognizedModernError (err: unknown): err is McpHttpError | McpRpcError {
  if (err instanceof McpHttpError) {
    return (err.rpcCode !== undefined && MODERN_ONLY_ERROR_CODES.includes(err.rpcCode)) || (err.status === 404 && err.rpcCode === ERROR_CODES.methodNotFound)
  }
  return err instanceof McpRpcError && MODERN_ONLY_ERROR_CODES.includes(err.rpcCode)
}

/**
 * Probes with `server/discover` in the modern era. A DiscoverResult, or a recognized modern error, means modern (on
 * -32022 another version from `data.supported` is tried, never a fallback, unless the only common version is legacy).
 * Any other 4xx, or a 2xx that is no DiscoverResult, means legacy: `initialize` is sent to confirm it and learn the
 * negotiated version, and the session it opened is ended with DELETE. 401/403 (a token is needed first), 5xx,
 * timeouts and unreachable servers throw: they say nothing about the era. Cache the answer per origin.
 * @see basic/transports/streamable-http.mdx § Backward Compatibility
 * @see basic/versioning.mdx § Backward Compatibility with Initialization-Based Versions
 */
export async function detectServerEra (url: string | URL, fetch: FetchLike, headers: Record<string, string> = {}, options: DetectServerEraOptions = {}): Promise<ServerEra> {
  const totalMs = options.timeoutMs ?? 10_000
  const deadline = Date.now() + totalMs
  const remainingMs = (): number => {
    const left = deadline - Date.now()
    if (left <= 0) throw new McpTimeoutError(totalMs)
    return left
  }
  const bounds = { url, fetch, maxResponseBytes: options.maxResponseBytes ?? 1024 * 1024, signal: options.signal }
  const clientInfo = options.clientInfo ?? { name: 'obo-relay', version: '0' }

  let version = MODERN_PROTOCOL_VERSIONS[0] ?? ''
  const tried = new Set<string>()
  while (!tried.has(version)) {
    tried.add(version)
    const request = createModernRequest(`discover-${tried.size}`, METHODS.discover, {}, { protocolVersion: version, clientInfo })
    try {
      const { result } = await postJsonRpc({ ...bounds, message: request, headers: mergeHeaders(headers, modernHeadersFor(request)), timeoutMs: remainingMs() })
      if (!isDiscoverResult(result)) break
      return { era: 'modern', protocolVersion: version, supportedVersions: result.supportedVersions, discover: result }
    } catch (err) {
      if (err instanceof McpHttpError && (err.status === 401 || err.status === 403 || err.status >= 500)) throw err
      if (isRecognizedModernError(err)) {
        if (err.rpcCode !== ERROR_CODES.unsupportedProtocolVersion) return { era: 'modern', protocolVersion: version, supportedVersions: [version] }
        const supported = err instanceof McpHttpError ? (err.supportedVersions ?? []) : []
        const modern = MODERN_PROTOCOL_VERSIONS.find((candidate) => supported.includes(candidate))
        if (modern !== undefined) {
          version = modern
          continue
        }
        if (!LEGACY_PROTOCOL_VERSIONS.some((candidate) => supported.includes(candidate))) throw err
        break
      }
      // A legacy server's answer to a request it cannot place: any other 4xx, a JSON-RPC error of its own, or no JSON-RPC at all.
      if (!(err instanceof McpHttpError || err instanceof McpRpcError || err instanceof McpInvalidResponseError)) throw err
      break
    }
  }
  if (options.confirmLegacy === false) return { era: 'legacy', protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION }
  return await initializeLegacy(bounds, headers, clientInfo, remainingMs)
}

/** Legacy `initialize` (no `MCP-Protocol-Version` header yet), then DELETE of the session it may have opened. @see docs/specification/2025-11-25/basic/transports.mdx § Session Management */
async function initializeLegacy (
  bounds: { url: string | URL, fetch: FetchLike, maxResponseBytes: number, signal: AbortSignal | undefined },
  headers: Record<string, string>,
  clientInfo: Implementation,
  remainingMs: () => number
): Promise<ServerEra> {
  const message = {
    jsonrpc: '2.0' as const,
    id: 'detect-initialize',
    method: METHODS.initialize,
    params: { protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION, capabilities: {}, clientInfo },
  }
  const initializeHeaders = mergeHeaders(headers, { 'Content-Type': 'application/json', Accept: ACCEPT_BOTH })
  const { result, headers: answerHeaders } = await postJsonRpc({ ...bounds, message, headers: initializeHeaders, timeoutMs: remainingMs() })
  const protocolVersion = result['protocolVersion']
  if (typeof protocolVersion !== 'string') throw new McpInvalidResponseError('not an InitializeResult')
  const sessionId = answerHeaders.get(HEADERS.sessionId)
  if (sessionId !== null) {
    try {
      const signals = [AbortSignal.timeout(remainingMs()), ...(bounds.signal === undefined ? [] : [bounds.signal])]
      const answer = await bounds.fetch(bounds.url, {
        method: 'DELETE',
        headers: mergeHeaders(headers, { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': protocolVersion }),
        signal: AbortSignal.any(signals),
        redirect: 'manual',
      })
      await answer.body?.cancel()
    } catch {
      // Ending the probe's session is a courtesy; the server expires it anyway.
    }
  }
  const serverInfo = result['serverInfo']
  const isImplementation = isJsonObject(serverInfo) && typeof serverInfo['name'] === 'string' && typeof serverInfo['version'] === 'string'
  return { era: 'legacy', protocolVersion, ...(isImplementation && { serverInfo: serverInfo as Implementation }) }
}
