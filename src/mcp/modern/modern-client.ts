// A client for one downstream MCP server of the modern era (2026-07-28): discover, list tools, call a tool.
import { randomUUID } from 'node:crypto'
import { McpHttpError, McpInvalidResponseError, McpTimeoutError } from './client-errors.ts'
import { mergeHeaders } from './header-values.ts'
import { postJsonRpc, type FetchLike } from './post-json-rpc.ts'
import { ERROR_CODES, LATEST_MODERN_PROTOCOL_VERSION, METHODS, NOTIFICATIONS } from './protocol.ts'
import { createModernRequest } from './request-builder.ts'
import { modernHeadersFor } from './request-headers.ts'
import { authorizationContextOf, ResultCache, scopeOf, ttlOf } from './result-cache.ts'
import { invalidToolReason } from './x-mcp-header.ts'
import type { CacheScope, CallToolResult, ClientCapabilities, DiscoverResult, Implementation, InputRequiredResult, InputResponses, JsonObject, JsonRpcNotification, Progress, Result, Tool } from './types.ts'
import { isJsonObject } from '../json-object.ts'

export interface ModernMcpClientOptions {
  /** The MCP endpoint. */
  url: string | URL
  fetch: FetchLike
  clientInfo: Implementation
  /** Declared on every request unless a call says otherwise; default `{}`. */
  clientCapabilities?: ClientCapabilities
  /** Default {@link LATEST_MODERN_PROTOCOL_VERSION}. */
  protocolVersion?: string
  /** Sent on every request (a call's own headers win), e.g. `Authorization`. */
  headers?: Record<string, string>
  /** Per call; default 30 s. */
  timeoutMs?: number
  /** For a whole JSON response and for each SSE event; default 8 MiB (DOWNSTREAM_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number
  /** Pages of one `tools/list`; default 100. */
  maxPages?: number
  /** Longest a server's `ttlMs` is believed; default 1 h. */
  maxTtlMs?: number
  /** Cached results kept; default 1000. */
  maxCacheEntries?: number
  /** Clock for cache freshness (timeouts use real time); default `Date.now`. */
  now?: () => number
}

export interface CallOptions {
  timeoutMs?: number
  signal?: AbortSignal
  /** This call's headers, e.g. `Authorization` with the user's token. */
  headers?: Record<string, string>
  clientCapabilities?: ClientCapabilities
}

export interface ListOptions extends CallOptions {
  /** Skip the cache (the result is still stored). */
  fresh?: boolean
}

export interface ToolList {
  tools: Tool[]
  /** Tools dropped because their `x-mcp-header` annotations are invalid (the caller SHOULD log them). */
  rejectedTools: Array<{ name: string, reason: string }>
  /** Freshness left, and the scope, as the server's hints say: private when any page was. */
  ttlMs: number
  cacheScope: CacheScope
  fromCache: boolean
}

export interface CallToolOptions extends CallOptions {
  /** Progress notifications of this call; asks for them with a `progressToken`. */
  onProgress?: (progress: Progress) => void
  /** The answers to an `input_required` result, when retrying the call. @see basic/patterns/mrtr.mdx */
  inputResponses?: InputResponses
  /** Echoed exactly as the `input_required` result gave it. */
  requestState?: string
  /** The tool's definition, for `Mcp-Param-*` headers; default: as last listed for this authorization context. */
  tool?: Tool
}

export interface ModernMcpClient {
  discover: (options?: ListOptions) => Promise<DiscoverResult>
  listTools: (options?: ListOptions) => Promise<ToolList>
  /** The `CallToolResult`, or the `InputRequiredResult` unchanged for the caller to answer. */
  callTool: (name: string, args?: JsonObject, options?: CallToolOptions) => Promise<CallToolResult | InputRequiredResult>
  clearCache: () => void
}

interface Deadline { at: number, totalMs: number }

interface CachedTools { tools: Tool[], rejectedTools: ToolList['rejectedTools'], cacheScope: CacheScope, expiresAt: number }

/** A result's type; an absent one is `complete` (earlier revisions), an unknown one is invalid. @see basic/index.mdx § ResultType */
function resultTypeOf (result: Result, allowed: readonly string[]): string {
  const resultType = result.resultType ?? 'complete'
  if (!allowed.includes(resultType)) throw new McpInvalidResponseError('unexpected resultType')
  return resultType
}

export function createModernMcpClient (options: ModernMcpClientOptions): ModernMcpClient {
  const now = options.now ?? Date.now
  const defaultTimeoutMs = options.timeoutMs ?? 30_000
  const maxResponseBytes = options.maxResponseBytes ?? 8 * 1024 * 1024
  const maxPages = options.maxPages ?? 100
  const maxTtlMs = options.maxTtlMs ?? 3_600_000
  const protocolVersion = options.protocolVersion ?? LATEST_MODERN_PROTOCOL_VERSION
  const discoverCache = new ResultCache<DiscoverResult>(options.maxCacheEntries ?? 1000, now)
  const toolsCache = new ResultCache<CachedTools>(options.maxCacheEntries ?? 1000, now)
  // The last tool list of each authorization context, fresh or not: its schemas say which arguments become headers.
  const lastTools = new ResultCache<Map<string, Tool>>(options.maxCacheEntries ?? 1000, now)
  let nextId = 1

  async function send (method: string, params: JsonObject, call: CallToolOptions, deadline: Deadline): Promise<Result> {
    const progressToken = call.onProgress === undefined ? undefined : randomUUID()
    const request = createModernRequest(nextId++, method, params, {
      protocolVersion,
      clientCapabilities: call.clientCapabilities ?? options.clientCapabilities ?? {},
      clientInfo: options.clientInfo,
      ...(progressToken !== undefined && { progressToken }),
    })
    const headers = mergeHeaders(options.headers, call.headers, modernHeadersFor(request, call.tool === undefined ? {} : { tool: call.tool }))
    const { onProgress } = call
    const onNotification = onProgress === undefined
      ? undefined
      : (notification: JsonRpcNotification): void => {
          const progress = notification.params ?? {}
          if (notification.method !== NOTIFICATIONS.progress || progress?.['progressToken'] !== progressToken || typeof progress['progress'] !== 'number') return
          onProgress({
            progress: progress['progress'],
            ...(typeof progress['total'] === 'number' && { total: progress['total'] }),
            ...(typeof progress['message'] === 'string' && { message: progress['message'] }),
          })
        }
    const remainingMs = deadline.at - Date.now()
    if (remainingMs <= 0) throw new McpTimeoutError(deadline.totalMs)
    try {
      const exchange = await postJsonRpc({ url: options.url, fetch: options.fetch, message: request, headers, maxResponseBytes, timeoutMs: remainingMs, signal: call.signal, onNotification })
      return exchange.result
    } catch (err) {
      // The call's budget is what the caller set, whatever part of it this request had left.
      throw err instanceof McpTimeoutError ? new McpTimeoutError(deadline.totalMs) : err
    }
  }

  function deadlineOf (call: CallOptions): Deadline {
    const totalMs = call.timeoutMs ?? defaultTimeoutMs
    return { at: Date.now() + totalMs, totalMs }
  }

  function contextOf (call: CallOptions): string {
    return authorizationContextOf(mergeHeaders(options.headers, call.headers))
  }

  /** @see server/discover.mdx, server/utilities/caching.mdx */
  async function discover (call: ListOptions = {}): Promise<DiscoverResult> {
    const context = contextOf(call)
    const cached = call.fresh === true ? undefined : discoverCache.get(METHODS.discover, context)
    if (cached !== undefined) return cached
    const result = await send(METHODS.discover, {}, call, deadlineOf(call))
    resultTypeOf(result, ['complete'])
    const { supportedVersions, capabilities } = result
    if (!Array.isArray(supportedVersions) || !supportedVersions.every((version) => typeof version === 'string') || !isJsonObject(capabilities)) {
      throw new McpInvalidResponseError('not a DiscoverResult')
    }
    const discovered = result as DiscoverResult
    discoverCache.set(METHODS.discover, context, discovered, ttlOf(result['ttlMs'], maxTtlMs), scopeOf(result['cacheScope']))
    return discovered
  }

  /**
   * Every page of `tools/list`, kept as one snapshot: fresh until its earliest page expires, private when any page
   * is. Tools with invalid `x-mcp-header` annotations are left out, as clients MUST.
   * @see server/utilities/caching.mdx § Interaction with Pagination, server/utilities/pagination.mdx
   * @see basic/transports/streamable-http.mdx § Schema Extension
   */
  async function listTools (call: ListOptions = {}): Promise<ToolList> {
    const context = contextOf(call)
    const cached = call.fresh === true ? undefined : toolsCache.get(METHODS.toolsList, context)
    if (cached !== undefined) return { tools: cached.tools, rejectedTools: cached.rejectedTools, cacheScope: cached.cacheScope, ttlMs: Math.max(0, cached.expiresAt - now()), fromCache: true }

    const deadline = deadlineOf(call)
    const tools: Tool[] = []
    const rejectedTools: ToolList['rejectedTools'] = []
    const seenCursors = new Set<string>()
    let expiresAt = Number.POSITIVE_INFINITY
    let cacheScope: CacheScope = 'public'
    let cursor: string | undefined
    for (let page = 0; ; page++) {
      if (page === maxPages) throw new McpInvalidResponseError(`tools/list has more than ${maxPages} pages`)
      const result = await send(METHODS.toolsList, cursor === undefined ? {} : { cursor }, call, deadline)
      resultTypeOf(result, ['complete'])
      if (!Array.isArray(result['tools'])) throw new McpInvalidResponseError('not a ListToolsResult')
      expiresAt = Math.min(expiresAt, now() + ttlOf(result['ttlMs'], maxTtlMs))
      if (scopeOf(result['cacheScope']) === 'private') cacheScope = 'private'
      for (const tool of result['tools'] as unknown[]) {
        if (!isJsonObject(tool) || typeof tool['name'] !== 'string' || !isJsonObject(tool['inputSchema'])) {
          rejectedTools.push({ name: isJsonObject(tool) && typeof tool['name'] === 'string' ? tool['name'] : '', reason: 'not a tool definition' })
          continue
        }
        const reason = invalidToolReason(tool as Tool)
        if (reason === undefined) tools.push(tool as Tool)
        else rejectedTools.push({ name: tool['name'], reason })
      }
      // Only an absent cursor ends the list: "" is a cursor like any other.
      const nextCursor = result['nextCursor']
      if (typeof nextCursor !== 'string') break
      if (seenCursors.has(nextCursor)) throw new McpInvalidResponseError('tools/list repeats a cursor')
      seenCursors.add(nextCursor)
      cursor = nextCursor
    }
    const ttlMs = Math.max(0, expiresAt - now())
    toolsCache.set(METHODS.toolsList, context, { tools, rejectedTools, cacheScope, expiresAt }, ttlMs, cacheScope)
    lastTools.set(METHODS.toolsList, context, new Map(tools.map((tool) => [tool.name, tool])), maxTtlMs, 'private')
    return { tools, rejectedTools, ttlMs, cacheScope, fromCache: false }
  }

  /**
   * One `tools/call`. An `input_required` result comes back unchanged; retry with `inputResponses` and the
   * `requestState` it carried (a new request id is used every time). On HeaderMismatch without a known tool
   * definition, the tools are re-listed and the call retried once with the tool's `Mcp-Param-*` headers.
   * @see server/tools.mdx § Calling Tools, § Input Required Tool Results
   * @see basic/transports/streamable-http.mdx § Client Behavior
   */
  async function callTool (name: string, args: JsonObject = {}, call: CallToolOptions = {}): Promise<CallToolResult | InputRequiredResult> {
    const deadline = deadlineOf(call)
    const params: JsonObject = {
      name,
      arguments: args,
      ...(call.inputResponses !== undefined && { inputResponses: call.inputResponses }),
      ...(call.requestState !== undefined && { requestState: call.requestState }),
    }
    const known = call.tool ?? lastTools.get(METHODS.toolsList, contextOf(call))?.get(name)
    let result: Result
    try {
      result = await send(METHODS.toolsCall, params, { ...call, ...(known !== undefined && { tool: known }) }, deadline)
    } catch (err) {
      const mismatch = err instanceof McpHttpError && err.rpcCode === ERROR_CODES.headerMismatch
      if (!mismatch || call.tool !== undefined) throw err
      const relisted = (await listTools({ ...call, fresh: true, timeoutMs: Math.max(1, deadline.at - Date.now()) })).tools.find((tool) => tool.name === name)
      if (relisted === undefined || JSON.stringify(relisted.inputSchema) === JSON.stringify(known?.inputSchema)) throw err
      result = await send(METHODS.toolsCall, params, { ...call, tool: relisted }, deadline)
    }
    resultTypeOf(result, ['complete', 'input_required'])
    return result as CallToolResult | InputRequiredResult
  }

  return {
    discover,
    listTools,
    callTool,
    clearCache: () => {
      discoverCache.clear()
      toolsCache.clear()
      lastTools.clear()
    },
  }
}
