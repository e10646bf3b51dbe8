// The REST tool API's engine: scope discovery → OBO token → pooled MCP client → tools/list or tools/call,
// inside one bounded DownstreamCall, with the downstream's answers mapped by the downstream policy.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { OboService } from '../entra/obo.ts'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import { relayError, RelayError } from '../errors.ts'
import { DownstreamCall } from '../downstream/call.ts'
import { classifyDownstreamFailure, downstreamError, retryFor } from '../downstream/policy.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import type { McpClientPool, PooledClient } from './client-pool.ts'

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
  /** Each downstream exchange: its server, outcome (`ok` or a reason) and duration (metrics). */
  onDownstream?: (labels: { server: string, outcome: string }, seconds: number) => void
}

const MAX_TOOL_PAGES = 100

/** The caller's side of a call: its disconnect, and the headers every downstream request carries (trace context). */
export interface CallContext {
  signal?: AbortSignal
  headers?: Record<string, string>
}

export class ToolService {
  readonly #o: ToolServiceOptions

  constructor (options: ToolServiceOptions) {
    this.#o = options
  }

  /** tools/list, every page. */
  async listTools (user: UserAssertion, serverId: string, context: CallContext = {}): Promise<Tool[]> {
    return await this.#withClient(user, serverId, context, async (entry, call) => await this.#toolsOf(entry, call))
  }

  async callTool (user: UserAssertion, serverId: string, toolName: string, args: Record<string, unknown>, context: CallContext = {}): Promise<CallToolResult> {
    return await this.#withClient(user, serverId, context, async (entry, call) => {
      let tools = await this.#toolsOf(entry, call)
      if (!tools.some((t) => t.name === toolName)) {
        // The cached list may predate a tool the server added without notifying: list once more.
        entry.tools = undefined
        tools = await this.#toolsOf(entry, call)
        if (!tools.some((t) => t.name === toolName)) throw relayError('tool_unknown', `Server "${serverId}" has no tool "${toolName}".`)
      }
      return await entry.client.callTool({ name: toolName, arguments: args }, undefined, requestOptions(call)) as CallToolResult
    })
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
  async #withClient<T> (user: UserAssertion, serverId: string, context: CallContext, operation: (entry: PooledClient, call: DownstreamCall) => Promise<T>): Promise<T> {
    const server = this.#o.registry.get(serverId)
    const { scopes } = await this.#o.discovery.resolve(serverId)
    const poolKey = `${userKey(user)}|${serverId}`
    const call = new DownstreamCall({ timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes, callerSignal: context.signal, headers: context.headers })
    const started = performance.now()
    let outcome = 'ok'
    try {
      let forceRefresh = false
      let claims: string | undefined
      for (let attempt = 0; ; attempt++) {
        const token = await this.#o.obo.exchange(user, scopes, { forceRefresh, target: `server "${serverId}"`, ...(claims === undefined ? {} : { claims }) })
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
          // A server's claims challenge (CAE, step-up) goes to Entra first, with the OBO request: if the
          // user's sign-in already satisfies it, a fresh token does; if not, Entra says how to step up.
          // https://learn.microsoft.com/en-us/entra/identity-platform/claims-challenge
          if (failure.kind === 'claims_challenge' && attempt === 0) {
            claims = claimsRequestOf(failure.claims)
            if (claims !== undefined) {
              this.#o.logger.info({ tid: user.tid, oid: user.oid, server: serverId }, 'downstream claims challenge: OBO with claims')
              forceRefresh = true
              continue
            }
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
    } catch (err) {
      outcome = err instanceof RelayError ? err.reason : 'internal'
      throw err
    } finally {
      call.dispose()
      this.#o.onDownstream?.({ server: serverId, outcome }, (performance.now() - started) / 1000)
    }
  }
}

/** Our DownstreamCall owns the deadline; the SDK's own timer is set just behind it as a backstop. */
function requestOptions (call: DownstreamCall) {
  return { signal: call.signal, timeout: call.timeoutMs + 1000 }
}

/** The JSON claims request inside a base64(url) challenge value, when it is one (a JSON object). */
function claimsRequestOf (encoded: string): string | undefined {
  const json = Buffer.from(encoded, 'base64url').toString('utf8')
  try {
    const parsed: unknown = JSON.parse(json)
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? json : undefined
  } catch {
    return undefined
  }
}
