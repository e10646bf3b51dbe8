// The REST tool API's engine: scope discovery → OBO token → pooled MCP client → tools/list or tools/call,
// with the downstream's answers mapped to DESIGN §2 (claims challenge, one retry on 401, 502/504).
import { ErrorCode, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js'
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Logger } from 'pino'
import type { McpServerConfig } from '../config.ts'
import type { OboService } from '../entra/obo.ts'
import { userKey, type UserAssertion } from '../entra/user-assertion.ts'
import { errors, RelayError } from '../errors.ts'
import type { McpClientPool, PooledClient } from './client-pool.ts'
import { findBearerChallenge } from '../discovery/www-authenticate.ts'

export interface ScopeResolver {
  resolve: (serverId: string) => Promise<{ scopes: string[] }>
  noteResourceMetadata?: (serverId: string, url: string) => void
}

export interface ToolServiceOptions {
  servers: McpServerConfig[]
  discovery: ScopeResolver
  obo: OboService
  pool: McpClientPool
  logger: Logger
  timeoutMs: number
  loginUrl: (options: { claims?: string }) => string
}

const MAX_TOOL_PAGES = 100
/** base64 or base64url, bounded: what Entra and MCP servers send as a claims challenge. */
const CLAIMS_VALUE = /^[A-Za-z0-9_\-+/]{1,8192}={0,2}$/

export class ToolService {
  readonly #o: ToolServiceOptions
  readonly #servers: Map<string, McpServerConfig>

  constructor (options: ToolServiceOptions) {
    this.#o = options
    this.#servers = new Map(options.servers.map((s) => [s.id, s]))
  }

  server (serverId: string): McpServerConfig {
    const server = this.#servers.get(serverId)
    if (server === undefined) throw errors.notFound(`No MCP server "${serverId}" is configured.`)
    return server
  }

  /** tools/list, every page. */
  async listTools (user: UserAssertion, serverId: string, signal?: AbortSignal): Promise<Tool[]> {
    return await this.#withClient(user, serverId, async (entry) => await this.#toolsOf(entry, signal))
  }

  async callTool (user: UserAssertion, serverId: string, toolName: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallToolResult> {
    return await this.#withClient(user, serverId, async (entry) => {
      let tools = await this.#toolsOf(entry, signal)
      if (!tools.some((t) => t.name === toolName)) {
        // The cached list may predate a tool the server added without notifying: list once more.
        entry.tools = undefined
        tools = await this.#toolsOf(entry, signal)
        if (!tools.some((t) => t.name === toolName)) throw errors.notFound(`Server "${serverId}" has no tool "${toolName}".`)
      }
      const result = await entry.client.callTool({ name: toolName, arguments: args }, undefined, this.#requestOptions(signal))
      return result as CallToolResult
    })
  }

  #requestOptions (signal: AbortSignal | undefined) {
    return { timeout: this.#o.timeoutMs, maxTotalTimeout: this.#o.timeoutMs, ...(signal === undefined ? {} : { signal }) }
  }

  async #toolsOf (entry: PooledClient, signal: AbortSignal | undefined): Promise<Tool[]> {
    if (entry.tools !== undefined) return entry.tools
    const tools: Tool[] = []
    let cursor: string | undefined
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await entry.client.listTools(cursor === undefined ? {} : { cursor }, this.#requestOptions(signal))
      tools.push(...result.tools)
      cursor = result.nextCursor
      if (cursor === undefined) break
    }
    entry.tools = tools
    return tools
  }

  /** Runs `operation` with a client holding a valid downstream token; one retry with a fresh token or session. */
  async #withClient<T> (user: UserAssertion, serverId: string, operation: (entry: PooledClient) => Promise<T>): Promise<T> {
    const server = this.server(serverId)
    const target = `server "${serverId}"`
    const { scopes } = await this.#o.discovery.resolve(serverId)
    const poolKey = `${userKey(user)}|${serverId}`
    let refreshToken = false
    for (let attempt = 0; ; attempt++) {
      const token = await this.#o.obo.exchange(user, scopes, { forceRefresh: refreshToken, target })
      let entry: PooledClient | undefined
      try {
        return await this.#o.pool.use(poolKey, server.url, token.accessToken, async (pooled) => {
          entry = pooled
          return await operation(pooled)
        })
      } catch (err) {
        entry ??= (err as { pooledClient?: PooledClient }).pooledClient
        const outcome = this.#classify(err, entry, serverId)
        // Retried only when the server provably did not run the request: it refused the token or the session.
        if (outcome.retry !== undefined && attempt === 0) {
          this.#o.logger.info({ tid: user.tid, oid: user.oid, server: serverId, reason: outcome.retry }, 'downstream retry')
          refreshToken = outcome.retry === 'downstream 401'
          continue
        }
        throw outcome.error
      }
    }
  }

  #classify (err: unknown, entry: PooledClient | undefined, serverId: string): { error: RelayError, retry?: 'downstream 401' | 'session gone' } {
    if (err instanceof RelayError) return { error: err }
    const status = err instanceof StreamableHTTPError ? err.code : undefined
    if (status === 401 || status === 403) {
      const params = findBearerChallenge(entry?.lastChallenge?.wwwAuthenticate) ?? {}
      // Only a well-formed base64 claims value is passed on: it is copied into our own challenge header.
      if (params.error === 'insufficient_claims' && params.claims !== undefined && CLAIMS_VALUE.test(params.claims)) {
        return {
          error: errors.interactionRequired(`Server "${serverId}" requires additional claims (step-up authentication).`, params.claims, this.#o.loginUrl({ claims: params.claims }))
        }
      }
      if (params.resource_metadata !== undefined) this.#o.discovery.noteResourceMetadata?.(serverId, params.resource_metadata)
      if (status === 403) {
        return { error: errors.badGateway(`Server "${serverId}" refused the delegated token (HTTP 403${params.error === undefined ? '' : `, ${params.error}`}).`) }
      }
      return { error: errors.badGateway(`Server "${serverId}" refused the delegated token twice (HTTP 401).`), retry: 'downstream 401' }
    }
    if (status === 404) {
      return { error: errors.badGateway(`Server "${serverId}" lost the MCP session.`), retry: 'session gone' }
    }
    if (err instanceof McpError) {
      // The SDK's own timeout carries `data.timeout`; a server may send -32001 for other reasons.
      if (err.code === ErrorCode.RequestTimeout && typeof (err.data as { timeout?: unknown } | undefined)?.timeout === 'number') {
        return { error: errors.gatewayTimeout(`Server "${serverId}" did not answer within ${this.#o.timeoutMs} ms.`) }
      }
      if (err.code === ErrorCode.InvalidParams) return { error: errors.invalidRequest(`Server "${serverId}" refused the request's parameters.`) }
      // Not retried: the server may have run the tool already.
      if (err.code === ErrorCode.ConnectionClosed && entry?.closed === true) return { error: errors.badGateway(`Server "${serverId}" closed the connection.`) }
      return { error: errors.badGateway(`Server "${serverId}" answered with an MCP error (${err.code}).`) }
    }
    if (err instanceof Error && err.name === 'AbortError') {
      return { error: errors.gatewayTimeout(`Server "${serverId}" did not answer in time.`) }
    }
    if (status !== undefined && status >= 500) return { error: errors.badGateway(`Server "${serverId}" failed (HTTP ${status}).`) }
    if (status !== undefined) return { error: errors.badGateway(`Server "${serverId}" answered HTTP ${status}.`) }
    this.#o.logger.warn({ server: serverId, err: { name: (err as Error)?.name, message: safeText(String((err as Error)?.message)) } }, 'downstream failure')
    return { error: errors.badGateway(`Server "${serverId}" cannot be reached.`) }
  }
}

/** The SDK's own messages (never the downstream body): trimmed, one line, bounded. */
function safeText (message: string): string {
  return message.replace(/^MCP error -?\d+: /, '').replace(/\s+/g, ' ').slice(0, 200)
}
