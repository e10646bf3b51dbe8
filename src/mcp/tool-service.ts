// The REST tool API's engine: scope discovery → OBO token → pooled MCP client → tools/list or tools/call,
// inside one bounded DownstreamCall, with the downstream's answers mapped by the downstream policy.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { OboService } from '../entra/obo.ts'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import type { McpServerConfig } from '../config/index.ts'
import { relayError, RelayError } from '../errors.ts'
import { DownstreamCall } from '../downstream/call.ts'
import { classifyDownstreamFailure, downstreamError, retryFor } from '../downstream/policy.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import type { FetchLike } from '../net/http-client.ts'
import type { McpClientPool, PooledClient } from './client-pool.ts'
import { createModernMcpClient, detectServerEra, type InputRequiredResult, type InputResponses, type ModernMcpClient } from './modern/index.ts'

export interface ScopeResolver {
  resolve: (serverId: string) => Promise<{ scopes: string[] }>
  noteResourceMetadata?: (serverId: string, url: string) => void
}

export interface ToolServiceOptions {
  registry: ServerRegistry
  discovery: ScopeResolver
  obo: OboService
  pool: McpClientPool
  logger: Logger
  timeoutMs: number
  maxResponseBytes: number
  /** For modern-era servers and the era probe; legacy servers are reached through the pool. */
  fetch: FetchLike
}

export interface CallToolOptions {
  signal?: AbortSignal | undefined
  /** Progress of the call, as the server reports it. */
  onProgress?: ((progress: { progress: number, total?: number | undefined, message?: string | undefined }) => void) | undefined
  /** Modern servers: the answers to an `input_required` result and its `requestState`, when retrying. */
  inputResponses?: InputResponses | undefined
  requestState?: string | undefined
}

export type ServerEraName = 'legacy' | 'modern'

const MAX_TOOL_PAGES = 100

export class ToolService {
  readonly #o: ToolServiceOptions
  readonly #eras = new Map<string, Promise<ServerEraName>>()
  readonly #modernClients = new Map<string, ModernMcpClient>()

  constructor (options: ToolServiceOptions) {
    this.#o = options
  }

  /** The era the server speaks, probed with the user's token once per server (again after a failed probe). */
  async eraOf (user: UserAssertion, serverId: string, signal?: AbortSignal): Promise<ServerEraName> {
    const cached = this.#eras.get(serverId)
    if (cached !== undefined) return await cached
    const server = this.#o.registry.get(serverId)
    const probe = this.#withToken(user, server, signal, async (token, call) => {
      const detected = await detectServerEra(server.url, this.#o.fetch, { authorization: `Bearer ${token}` }, {
        timeoutMs: this.#o.timeoutMs,
        maxResponseBytes: this.#o.maxResponseBytes,
        signal: call.signal,
        // A legacy server gets its session from the pool right after: no probe session of its own.
        confirmLegacy: false,
      })
      this.#o.logger.info({ server: serverId, era: detected.era, protocolVersion: detected.protocolVersion }, 'downstream era')
      return detected.era
    })
    this.#eras.set(serverId, probe)
    probe.catch(() => { if (this.#eras.get(serverId) === probe) this.#eras.delete(serverId) })
    return await probe
  }

  /** Forgets what is cached of this server's tools for this user (modern clients: for everyone, their cache is per server). */
  forgetTools (user: UserAssertion, serverId: string): void {
    this.#o.pool.forgetTools(`${userKey(user)}|${serverId}`)
    this.#modernClients.get(serverId)?.clearCache()
  }

  /** tools/list, every page. */
  async listTools (user: UserAssertion, serverId: string, signal?: AbortSignal): Promise<Tool[]> {
    if (await this.eraOf(user, serverId, signal) === 'modern') {
      return await this.#withModern(user, serverId, signal, async (client, headers, call) => {
        const list = await client.listTools({ headers, signal: call.signal, timeoutMs: this.#o.timeoutMs })
        for (const rejected of list.rejectedTools) this.#o.logger.warn({ server: serverId, tool: rejected.name.slice(0, 128), reason: rejected.reason }, 'downstream tool dropped')
        return list.tools as Tool[]
      })
    }
    return await this.#withClient(user, serverId, signal, async (entry, call) => await this.#toolsOf(entry, call))
  }

  /** tools/call; a modern server's `input_required` result comes back as it came. */
  async callTool (user: UserAssertion, serverId: string, toolName: string, args: Record<string, unknown>, signalOrOptions?: AbortSignal | CallToolOptions): Promise<CallToolResult | InputRequiredResult> {
    const options: CallToolOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {})
    const { signal, onProgress } = options
    if (await this.eraOf(user, serverId, signal) === 'modern') {
      return await this.#withModern(user, serverId, signal, async (client, headers, call) => {
        const tools = await client.listTools({ headers, signal: call.signal, timeoutMs: this.#o.timeoutMs })
        if (!tools.tools.some((t) => t.name === toolName)) throw relayError('tool_unknown', `Server "${serverId}" has no tool "${toolName}".`)
        return await client.callTool(toolName, args, {
          headers,
          signal: call.signal,
          timeoutMs: this.#o.timeoutMs,
          ...(onProgress !== undefined && { onProgress }),
          ...(options.inputResponses !== undefined && { inputResponses: options.inputResponses }),
          ...(options.requestState !== undefined && { requestState: options.requestState }),
        }) as CallToolResult | InputRequiredResult
      })
    }
    return await this.#withClient(user, serverId, signal, async (entry, call) => {
      let tools = await this.#toolsOf(entry, call)
      if (!tools.some((t) => t.name === toolName)) {
        // The cached list may predate a tool the server added without notifying: list once more.
        entry.tools = undefined
        tools = await this.#toolsOf(entry, call)
        if (!tools.some((t) => t.name === toolName)) throw relayError('tool_unknown', `Server "${serverId}" has no tool "${toolName}".`)
      }
      const progress = onProgress === undefined ? {} : { onprogress: onProgress, resetTimeoutOnProgress: false }
      return await entry.client.callTool({ name: toolName, arguments: args }, undefined, { ...requestOptions(call), ...progress }) as CallToolResult
    })
  }

  /** A modern server: one client per server (its result cache is private per token), the user's token on each call. */
  async #withModern<T> (user: UserAssertion, serverId: string, signal: AbortSignal | undefined, operation: (client: ModernMcpClient, headers: Record<string, string>, call: DownstreamCall) => Promise<T>): Promise<T> {
    const server = this.#o.registry.get(serverId)
    let client = this.#modernClients.get(serverId)
    if (client === undefined) {
      client = createModernMcpClient({ url: server.url, fetch: this.#o.fetch, clientInfo: { name: 'obo-relay', version: '0.1.0' }, timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes })
      this.#modernClients.set(serverId, client)
    }
    const modern = client
    return await this.#withToken(user, server, signal, async (token, call) => await operation(modern, { authorization: `Bearer ${token}` }, call))
  }

  /** `operation` with a valid downstream token inside one bounded call; one retry with a fresh token after a 401. */
  async #withToken<T> (user: UserAssertion, server: McpServerConfig, signal: AbortSignal | undefined, operation: (token: string, call: DownstreamCall) => Promise<T>): Promise<T> {
    const { scopes } = await this.#o.discovery.resolve(server.id)
    const call = new DownstreamCall({ timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes, callerSignal: signal })
    try {
      for (let attempt = 0; ; attempt++) {
        const token = await this.#o.obo.exchange(user, scopes, { forceRefresh: attempt > 0, target: `server "${server.id}"` })
        try {
          return await operation(token.accessToken, call)
        } catch (err) {
          if (err instanceof RelayError) throw err
          const failure = classifyDownstreamFailure(err, call, false)
          if (retryFor(failure) === 'new_token' && attempt === 0) continue
          if (failure.kind === 'unreachable') this.#o.logger.warn({ server: server.id, detail: failure.detail }, 'downstream unreachable')
          throw downstreamError(failure, server.id, this.#o.timeoutMs)
        }
      }
    } finally {
      call.dispose()
    }
  }

  /** Every page, bounded in pages and in the bytes the list holds (it is cached with the client). */
  async #toolsOf (entry: PooledClient, call: DownstreamCall): Promise<Tool[]> {
    if (entry.tools !== undefined) return entry.tools
    const tools: Tool[] = []
    let bytes = 0
    let cursor: string | undefined
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await entry.client.listTools(cursor === undefined ? {} : { cursor }, requestOptions(call))
      bytes += JSON.stringify(result.tools).length
      if (bytes > call.maxResponseBytes) call.abort('too_large')
      call.signal.throwIfAborted()
      tools.push(...result.tools)
      cursor = result.nextCursor
      if (cursor === undefined) break
    }
    entry.tools = tools
    return tools
  }

  /** Runs `operation` with a client holding a valid downstream token; one retry with a fresh token or session. */
  async #withClient<T> (user: UserAssertion, serverId: string, signal: AbortSignal | undefined, operation: (entry: PooledClient, call: DownstreamCall) => Promise<T>): Promise<T> {
    const server = this.#o.registry.get(serverId)
    const { scopes } = await this.#o.discovery.resolve(serverId)
    const poolKey = `${userKey(user)}|${serverId}`
    const call = new DownstreamCall({ timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes, callerSignal: signal })
    try {
      let forceRefresh = false
      for (let attempt = 0; ; attempt++) {
        const token = await this.#o.obo.exchange(user, scopes, { forceRefresh, target: `server "${serverId}"` })
        call.challenge = undefined
        let closed = false
        try {
          return await this.#o.pool.use(poolKey, server.url, token.accessToken, call, async (entry) => {
            try {
              return await operation(entry, call)
            } finally {
              closed = entry.closed
            }
          })
        } catch (err) {
          const failure = classifyDownstreamFailure(err, call, closed)
          if ((failure.kind === 'token_refused' || failure.kind === 'forbidden') && failure.resourceMetadata !== undefined) {
            this.#o.discovery.noteResourceMetadata?.(serverId, failure.resourceMetadata)
          }
          const retry = retryFor(failure)
          if (retry !== undefined && attempt === 0) {
            this.#o.logger.info({ tid: user.tid, oid: user.oid, server: serverId, retry }, 'downstream retry')
            forceRefresh = retry === 'new_token'
            continue
          }
          if (failure.kind === 'unreachable') this.#o.logger.warn({ server: serverId, detail: failure.detail }, 'downstream unreachable')
          throw downstreamError(failure, serverId, this.#o.timeoutMs)
        }
      }
    } finally {
      call.dispose()
    }
  }
}

/** Our DownstreamCall owns the deadline; the SDK's own timer is set just behind it as a backstop. */
function requestOptions (call: DownstreamCall) {
  return { signal: call.signal, timeout: call.timeoutMs + 1000 }
}
