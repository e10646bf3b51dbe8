// The REST tool API's engine: scope discovery → OBO token → pooled MCP client → tools/list or tools/call,
// inside one bounded DownstreamCall, with the downstream's answers mapped by the downstream policy.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { OboService } from '../entra/obo.ts'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import type { McpServerConfig } from '../config/index.ts'
import { relayError, RelayError } from '../errors.ts'
import { DownstreamCall } from '../downstream/call.ts'
import { classifyDownstreamFailure, downstreamError, retryFor, type DownstreamFailure } from '../downstream/policy.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import type { FetchLike } from '../net/http-client.ts'
import type { McpClientPool, PooledClient } from './client-pool.ts'
import { createModernMcpClient, detectServerEra, McpInvalidResponseError, type InputRequiredResult, type InputResponses, type ModernMcpClient } from './modern/index.ts'
import { isJsonObject } from './json-object.ts'

export interface ScopeResolver {
  resolve: (serverId: string) => Promise<{ scopes: string[] }>
  noteResourceMetadata?: (serverId: string, url: string) => void
  /**
   * Refuses a token whose `aud` another server holds (or the relay's own): called before every token leaves.
   * Undefined: passed without waiting (an audience checked a moment ago).
   */
  checkIssued: (serverId: string, token: { accessToken: string, audience?: string }, user?: UserAssertion) => Promise<void> | undefined
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
  /** Each downstream exchange: its server, outcome (`ok` or a reason) and duration (metrics). */
  onDownstream?: (labels: { server: string, outcome: string }, seconds: number) => void
}

/** The caller's side of a call: its disconnect, and the headers every downstream request carries (trace context). */
export interface CallContext {
  signal?: AbortSignal | undefined
  headers?: Record<string, string> | undefined
}

export interface CallToolOptions extends CallContext {
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
  async eraOf (user: UserAssertion, serverId: string, context: CallContext = {}): Promise<ServerEraName> {
    const cached = this.#eras.get(serverId)
    if (cached !== undefined) return await cached
    const server = this.#o.registry.get(serverId)
    const probe = this.#withToken<ServerEraName>(user, server, context, async (token, call) => {
      const detected = await detectServerEra(server.url, this.#o.fetch, { ...call.headers, authorization: `Bearer ${token}` }, {
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
  async listTools (user: UserAssertion, serverId: string, contextOrSignal?: AbortSignal | CallContext): Promise<Tool[]> {
    const context = contextOf(contextOrSignal)
    if (await this.eraOf(user, serverId, context) === 'modern') {
      return await this.#withModern(user, serverId, context, async (client, headers, call) => {
        const list = await client.listTools({ headers, signal: call.signal, timeoutMs: this.#o.timeoutMs })
        for (const rejected of list.rejectedTools) this.#o.logger.warn({ server: serverId, tool: rejected.name.slice(0, 128), reason: rejected.reason }, 'downstream tool dropped')
        return list.tools as Tool[]
      })
    }
    return await this.#withClient(user, serverId, context, async (entry, call) => await this.#toolsOf(entry, call, serverId))
  }

  /** tools/call; a modern server's `input_required` result comes back as it came. */
  async callTool (user: UserAssertion, serverId: string, toolName: string, args: Record<string, unknown>, signalOrOptions?: AbortSignal | CallToolOptions): Promise<CallToolResult | InputRequiredResult> {
    const options: CallToolOptions = contextOf(signalOrOptions)
    const { onProgress } = options
    if (await this.eraOf(user, serverId, options) === 'modern') {
      return await this.#withModern(user, serverId, options, async (client, headers, call) => {
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
    return await this.#withClient(user, serverId, options, async (entry, call) => {
      let tools = await this.#toolsOf(entry, call, serverId)
      if (!tools.some((t) => t.name === toolName)) {
        // The cached list may predate a tool the server added without notifying: list once more.
        entry.tools = undefined
        tools = await this.#toolsOf(entry, call, serverId)
        if (!tools.some((t) => t.name === toolName)) throw relayError('tool_unknown', `Server "${serverId}" has no tool "${toolName}".`)
      }
      return callToolResultOf(await entry.session.request('tools/call', { name: toolName, arguments: args }, call, { onProgress }))
    })
  }

  /** A modern server: one client per server (its result cache is private per token), the user's token on each call. */
  async #withModern<T> (user: UserAssertion, serverId: string, context: CallContext, operation: (client: ModernMcpClient, headers: Record<string, string>, call: DownstreamCall) => Promise<T>): Promise<T> {
    const server = this.#o.registry.get(serverId)
    let client = this.#modernClients.get(serverId)
    if (client === undefined) {
      client = createModernMcpClient({ url: server.url, fetch: this.#o.fetch, clientInfo: { name: 'obo-relay', version: '0.1.0' }, timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes })
      this.#modernClients.set(serverId, client)
    }
    const modern = client
    return await this.#withToken(user, server, context, async (token, call) => await operation(modern, { ...context.headers, authorization: `Bearer ${token}` }, call))
  }

  /** `operation` with a valid downstream token inside one bounded call; one retry with a fresh token after a 401. */
  async #withToken<T> (user: UserAssertion, server: McpServerConfig, context: CallContext, operation: (token: string, call: DownstreamCall) => Promise<T>): Promise<T> {
    return await this.#measured(server.id, async () => {
      const { scopes } = await this.#o.discovery.resolve(server.id)
      const call = new DownstreamCall({ timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes, callerSignal: context.signal, headers: context.headers })
      try {
        let forceRefresh = false
        let claims: string | undefined
        for (let attempt = 0; ; attempt++) {
          const options = { forceRefresh, target: `server "${server.id}"`, ...(claims === undefined ? {} : { claims }) }
          const token = this.#o.obo.cached(user, scopes, options) ?? await this.#o.obo.exchange(user, scopes, options)
          const checking = this.#o.discovery.checkIssued(server.id, token, user)
          if (checking !== undefined) await checking
          try {
            return await operation(token.accessToken, call)
          } catch (err) {
            if (err instanceof RelayError) throw err
            const failure = classifyDownstreamFailure(err, call)
            const retry = retryOf(failure, attempt)
            if (retry !== undefined) {
              forceRefresh = true
              if (retry.claims !== undefined) claims = retry.claims
              continue
            }
            if (failure.kind === 'unreachable') this.#o.logger.warn({ server: server.id, detail: failure.detail }, 'downstream unreachable')
            throw downstreamError(failure, server.id, this.#o.timeoutMs)
          }
        }
      } finally {
        call.dispose()
      }
    })
  }

  /** Records the exchange's outcome (`ok` or its reason) and duration. */
  async #measured<T> (serverId: string, exchange: () => Promise<T>): Promise<T> {
    const started = performance.now()
    let outcome = 'ok'
    try {
      return await exchange()
    } catch (err) {
      outcome = err instanceof RelayError ? err.reason : 'internal'
      throw err
    } finally {
      this.#o.onDownstream?.({ server: serverId, outcome }, (performance.now() - started) / 1000)
    }
  }

  /**
   * Every page, bounded in pages and in the bytes the list holds (it is cached with the client). What is not a
   * tool definition (a name and an input schema) is left out and logged.
   */
  async #toolsOf (entry: PooledClient, call: DownstreamCall, serverId: string): Promise<Tool[]> {
    if (entry.tools !== undefined) return entry.tools
    const tools: Tool[] = []
    let bytes = 0
    let cursor: string | undefined
    const seenCursors = new Set<string>()
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await entry.session.request('tools/list', cursor === undefined ? {} : { cursor }, call)
      const listed = result['tools']
      if (!Array.isArray(listed)) throw new McpInvalidResponseError('not a ListToolsResult')
      bytes += JSON.stringify(listed).length
      if (bytes > call.maxResponseBytes) call.abort('too_large')
      call.signal.throwIfAborted()
      for (const tool of listed as unknown[]) {
        if (isToolDefinition(tool)) tools.push(tool)
        else this.#o.logger.warn({ server: serverId, reason: 'not a tool definition' }, 'downstream tool dropped')
      }
      const next = result['nextCursor']
      if (next === undefined) break
      if (typeof next !== 'string' || seenCursors.has(next)) throw new McpInvalidResponseError('tools/list has an invalid or repeated cursor')
      seenCursors.add(next)
      cursor = next
    }
    entry.tools = tools
    return tools
  }

  /** Runs `operation` with a client holding a valid downstream token; one retry with a fresh token or session. */
  async #withClient<T> (user: UserAssertion, serverId: string, context: CallContext, operation: (entry: PooledClient, call: DownstreamCall) => Promise<T>): Promise<T> {
    return await this.#measured(serverId, async () => await this.#withPooledClient(user, serverId, context, operation))
  }

  async #withPooledClient<T> (user: UserAssertion, serverId: string, context: CallContext, operation: (entry: PooledClient, call: DownstreamCall) => Promise<T>): Promise<T> {
    const server = this.#o.registry.get(serverId)
    const { scopes } = await this.#o.discovery.resolve(serverId)
    const poolKey = `${userKey(user)}|${serverId}`
    const call = new DownstreamCall({ timeoutMs: this.#o.timeoutMs, maxResponseBytes: this.#o.maxResponseBytes, callerSignal: context.signal, headers: context.headers })
    try {
      let forceRefresh = false
      let claims: string | undefined
      for (let attempt = 0; ; attempt++) {
        const token = await this.#o.obo.exchange(user, scopes, { forceRefresh, target: `server "${serverId}"`, ...(claims === undefined ? {} : { claims }) })
        await this.#o.discovery.checkIssued(serverId, token, user)
        call.challenge = undefined
        try {
          return await this.#o.pool.use(poolKey, server.url, token.accessToken, call, async (entry) => await operation(entry, call))
        } catch (err) {
          const failure = classifyDownstreamFailure(err, call)
          if ((failure.kind === 'token_refused' || failure.kind === 'forbidden') && failure.resourceMetadata !== undefined) {
            this.#o.discovery.noteResourceMetadata?.(serverId, failure.resourceMetadata)
          }
          const retry = retryOf(failure, attempt)
          if (retry !== undefined) {
            this.#o.logger.info({ tid: user.tid, oid: user.oid, server: serverId, retry: retry.kind }, 'downstream retry')
            forceRefresh = retry.kind !== 'new_session'
            if (retry.claims !== undefined) claims = retry.claims
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

function isToolDefinition (tool: unknown): tool is Tool {
  return isJsonObject(tool) && typeof tool['name'] === 'string' && isJsonObject(tool['inputSchema'])
}

/**
 * A `CallToolResult` as the schema has it: `content` a list of typed blocks (none when absent), `isError` a
 * boolean, `structuredContent` an object; anything else is an invalid answer, not passed on.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool-result
 */
function callToolResultOf (result: Record<string, unknown>): CallToolResult {
  const { content, isError, structuredContent } = result
  const contentOk = content === undefined || (Array.isArray(content) && content.every((block) => isJsonObject(block) && typeof block['type'] === 'string'))
  if (!contentOk || (isError !== undefined && typeof isError !== 'boolean') || (structuredContent !== undefined && !isJsonObject(structuredContent))) {
    throw new McpInvalidResponseError('not a CallToolResult')
  }
  return (content === undefined ? { ...result, content: [] } : result) as CallToolResult
}

function contextOf<T extends CallContext> (value: AbortSignal | T | undefined): T | CallContext {
  return value instanceof AbortSignal ? { signal: value } : (value ?? {})
}

/**
 * Whether to try once more, and how: a fresh token (refused), a new session (lost), or — for a server's claims
 * challenge (CAE, step-up) — an OBO request carrying those claims: if the user's sign-in already satisfies them a
 * fresh token does, if not Entra says how to step up. https://learn.microsoft.com/en-us/entra/identity-platform/claims-challenge
 */
function retryOf (failure: DownstreamFailure, attempt: number): { kind: 'new_token' | 'new_session' | 'claims', claims?: string } | undefined {
  if (attempt > 0) return undefined
  if (failure.kind === 'claims_challenge') {
    const claims = claimsRequestOf(failure.claims)
    return claims === undefined ? undefined : { kind: 'claims', claims }
  }
  const retry = retryFor(failure)
  return retry === undefined ? undefined : { kind: retry }
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
