// `/mcp`: one dual-era MCP server aggregating every server the user can reach (DESIGN §7). Each request is put in
// its era (classifyEra): legacy clients get the SDK's server, with sessions whose state lives in the store (any
// replica serves them); modern (2026-07-28) clients are served statelessly from the specification.
import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import {
  CallToolRequestSchema, ErrorCode, LATEST_PROTOCOL_VERSION, ListToolsRequestSchema, McpError, SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import { RelayError, type ErrorIntent } from '../errors.ts'
import type { Caller } from '../http/auth.ts'
import { API_CSP, SECURITY_HEADERS } from '../http/security-headers.ts'
import {
  checkMcpParamHeaders, classifyEra, headerMismatch, invalidParams, META_KEYS, methodNotFound, MODERN_PROTOCOL_VERSIONS, NOTIFICATIONS, validateModernRequest,
  type ClientCapabilities, type JsonObject, type ModernRequest, type RequestId, type Tool as ModernTool,
} from '../mcp/modern/index.ts'
import { UnknownAggregatedTool, type AggregateTools } from './aggregate.ts'
import type { SessionBindings } from './session-bindings.ts'
import type { ToolWatch } from './tool-watch.ts'
import { isJsonObject } from '../mcp/json-object.ts'

export interface AggregateRequest {
  caller: Caller
  method: 'GET' | 'POST' | 'DELETE'
  request: FastifyRequest
  reply: FastifyReply
  /** The parsed body of a POST. */
  message: unknown
  signal: AbortSignal
  /** W3C trace context and request id for every downstream request it makes (from the route). */
  trace?: Record<string, string>
}

export interface AggregateEndpointOptions {
  tools: AggregateTools
  bindings: SessionBindings
  /** Emits `toolsChanged` (`tid.oid|server`) when a downstream server says its tool list changed. */
  toolEvents: EventEmitter
  /** Listens downstream for tool-list changes while a client listens here. */
  watch: ToolWatch
  /** Where the user acts on an intent (sign in, consent). */
  loginUrl: (intent: ErrorIntent, request: FastifyRequest) => string | undefined
  keepAliveMs: number
  /** `ttlMs` of `tools/list` results for modern clients. */
  toolsTtlMs: number
}

/** The state of a legacy session, in the store. */
interface LegacySession {
  protocolVersion: string
  capabilities: ClientCapabilities
}

const SCOPE = 'aggregate'
const SERVER_INFO = { name: 'obo-relay', version: '0.1.0' }
/**
 * One JSON Schema validator for every per-request `Server`: the SDK builds a new Ajv instance (meta-schemas
 * compiled) for each server otherwise, which was a sixth of `/mcp`'s CPU (bench S2 profile).
 */
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator()
const INSTRUCTIONS = 'Tools of every MCP server the signed-in user can reach through obo-relay, named <server><separator><tool>.'
const SIGN_IN_INPUT = 'obo-relay/sign-in'

export class AggregateEndpoint {
  readonly #o: AggregateEndpointOptions
  /** In-flight legacy calls of this replica, by session and request id, so `notifications/cancelled` can stop them. */
  readonly #inFlight = new Map<string, AbortController>()

  constructor (options: AggregateEndpointOptions) {
    this.#o = options
  }

  async handle (ctx: AggregateRequest): Promise<void> {
    const era = classifyEra(ctx.request.headers, ctx.method === 'POST' ? ctx.message : undefined)
    if (era.era === 'modern') return await this.#modern(ctx)
    return await this.#legacy(ctx)
  }

  // ---- legacy (2025-06-18, 2025-11-25): the SDK's server, one per request, session state in the store ----

  async #legacy (ctx: AggregateRequest): Promise<void> {
    const { request, reply, caller } = ctx
    const sessionHeader = request.headers['mcp-session-id']
    const sessionId = typeof sessionHeader === 'string' ? sessionHeader : undefined
    const initialize = isRequest(ctx.message) && ctx.message.method === 'initialize'
    let session: LegacySession
    let newSessionId: string | undefined
    if (initialize) {
      const params = (ctx.message as { params?: { protocolVersion?: unknown, capabilities?: unknown } }).params ?? {}
      const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : ''
      session = {
        protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
        capabilities: isJsonObject(params.capabilities) ? params.capabilities : {},
      }
      newSessionId = randomUUID()
      await this.#o.bindings.bind<LegacySession>(SCOPE, newSessionId, { user: userKey(caller.user), state: session })
    } else if (sessionId === undefined) {
      if (ctx.method === 'GET') {
        reply.code(405).header('allow', 'POST, DELETE').type('application/json').send(rpcError(undefined, -32000, 'Method not allowed: open a session first (GET needs Mcp-Session-Id)'))
        return
      }
      reply.code(400).type('application/json').send(rpcError(idOf(ctx.message), -32000, 'Bad Request: Mcp-Session-Id header is required'))
      return
    } else {
      const binding = await this.#o.bindings.get<LegacySession>(SCOPE, sessionId)
      if (binding?.user !== userKey(caller.user) || binding.state === undefined) {
        reply.code(404).type('application/json').send(rpcError(idOf(ctx.message), -32001, 'Session not found'))
        return
      }
      session = binding.state
    }

    if (ctx.method === 'DELETE') {
      await this.#o.bindings.unbind(SCOPE, sessionId as string)
      reply.code(200).send()
      return
    }
    if (ctx.method === 'GET') {
      this.#listChangedStream(ctx, (sse) => sse.write({ jsonrpc: '2.0', method: NOTIFICATIONS.toolsListChanged }))
      return
    }
    const message = ctx.message as { method?: unknown, params?: { requestId?: unknown } }
    if (message.method === NOTIFICATIONS.cancelled && sessionId !== undefined) {
      this.#inFlight.get(`${sessionId}|${String(message.params?.requestId)}`)?.abort(new Error('cancelled by the client'))
      reply.code(202).send()
      return
    }

    const server = this.#legacyServer(ctx, session, sessionId ?? newSessionId ?? '')
    const transport = new StreamableHTTPServerTransport({})
    await server.connect(transport)
    writeSecurityHeaders(reply)
    reply.hijack()
    const raw = reply.raw
    if (newSessionId !== undefined) raw.setHeader('mcp-session-id', newSessionId)
    raw.once('close', () => { server.close().catch(() => {}) })
    await transport.handleRequest(request.raw, raw, ctx.message)
  }

  #legacyServer (ctx: AggregateRequest, session: LegacySession, sessionId: string): Server {
    const user = ctx.caller.user
    const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS, jsonSchemaValidator: SCHEMA_VALIDATOR })
    server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
      return { tools: (await this.#o.tools.list(user, anySignal(extra.signal, ctx.signal), ctx.trace)).map((entry) => entry.tool) }
    })
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const key = `${sessionId}|${String(extra.requestId)}`
      const cancel = new AbortController()
      this.#inFlight.set(key, cancel)
      const progressToken = request.params._meta?.progressToken
      try {
        const outcome = await this.#o.tools.call(user, request.params.name, request.params.arguments ?? {}, {
          signal: anySignal(extra.signal, ctx.signal, cancel.signal),
          headers: ctx.trace,
          onProgress: progressToken === undefined
            ? undefined
            : (progress) => { extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...progress } }).catch(() => {}) },
        })
        if (outcome.kind === 'result') {
          if (outcome.result['resultType'] === 'input_required') return toolError('The tool asks for input that only a 2026-07-28 client can give; connect with one to use it.')
          return outcome.result as { content: [] }
        }
        const url = this.#o.loginUrl(outcome.intent, ctx.request)
        const text = userActionText(outcome.error, url)
        // URL-mode elicitation (2025-11-25 client/elicitation § URL Mode) for clients that declared it.
        if (url !== undefined && isJsonObject(session.capabilities.elicitation) && isJsonObject(session.capabilities.elicitation['url'])) {
          throw new McpError(ErrorCode.UrlElicitationRequired, text, { elicitations: [{ mode: 'url', elicitationId: randomUUID(), url, message: text }] })
        }
        return toolError(text)
      } catch (err) {
        throw legacyErrorOf(err)
      } finally {
        this.#inFlight.delete(key)
      }
    })
    return server
  }

  // ---- modern (2026-07-28): stateless, every request validated, answered from the spec ----

  async #modern (ctx: AggregateRequest): Promise<void> {
    const { request, reply } = ctx
    const validation = validateModernRequest(request.headers, ctx.message, { supportedVersions: MODERN_PROTOCOL_VERSIONS })
    if (!validation.ok) {
      reply.code(validation.status).type('application/json').send(validation.error)
      return
    }
    if (validation.kind === 'notification') {
      reply.code(202).send()
      return
    }
    const rpc = validation.request
    const user = ctx.caller.user
    switch (rpc.method) {
      case 'server/discover':
        return sendResult(reply, rpc.id, {
          supportedVersions: [...MODERN_PROTOCOL_VERSIONS],
          capabilities: { tools: { listChanged: true } },
          instructions: INSTRUCTIONS,
          ttlMs: 300_000,
          cacheScope: 'public',
        })
      case 'tools/list': {
        if (rpc.params['cursor'] !== undefined) return sendAnswer(reply, invalidParams(rpc.id, 'invalid cursor'))
        const tools = (await this.#o.tools.list(user, ctx.signal, ctx.trace)).map((entry) => entry.tool)
        // Per-user results: no shared cache may serve them to anyone else (DESIGN §7).
        return sendResult(reply, rpc.id, { tools, ttlMs: this.#o.toolsTtlMs, cacheScope: 'private' })
      }
      case 'tools/call':
        return await this.#modernCall(ctx, rpc, user)
      case 'subscriptions/listen':
        return this.#modernListen(ctx, rpc)
      default:
        return sendAnswer(reply, methodNotFound(rpc.id, rpc.method, MODERN_PROTOCOL_VERSIONS))
    }
  }

  async #modernCall (ctx: AggregateRequest, rpc: ModernRequest, user: UserAssertion): Promise<void> {
    const { reply } = ctx
    const params = rpc.params
    const name = params['name'] as string
    const args = isJsonObject(params['arguments']) ? params['arguments'] : {}
    const meta = params._meta
    const capabilities = meta[META_KEYS.clientCapabilities]
    const progressToken = meta[META_KEYS.progressToken]
    // Our own sign-in request is answered by retrying; the server's own requests go back to it untouched.
    const responses = isJsonObject(params['inputResponses']) ? { ...params['inputResponses'] } : undefined
    if (responses !== undefined) delete responses[SIGN_IN_INPUT]
    const requestState = typeof params['requestState'] === 'string' ? params['requestState'] : undefined

    // Our tools carry their server's schemas, `x-mcp-header` included: the mirrored arguments are checked here.
    // @see basic/transports/streamable-http.mdx § Server Validation
    try {
      const tool = await this.#o.tools.definition(user, name, ctx.signal)
      const problem = tool === undefined ? undefined : checkMcpParamHeaders(ctx.request.headers, tool as ModernTool, args)
      if (problem !== undefined) return sendAnswer(reply, headerMismatch(rpc.id, problem))
    } catch (err) {
      if (err instanceof UnknownAggregatedTool) return sendAnswer(reply, invalidParams(rpc.id, err.message))
      // No list to check against (the server refuses the user, is down…): the call itself reports why.
    }

    // A caller asking for progress gets the SSE answer at once: its stream (with keep-alives) starts before any step.
    const sse: SseWriter | undefined = progressToken === undefined ? undefined : openSse(reply, this.#o.keepAliveMs)
    const onProgress = sse === undefined
      ? undefined
      : (progress: { progress: number, total?: number | undefined, message?: string | undefined }) => {
          sse.write({ jsonrpc: '2.0', method: NOTIFICATIONS.progress, params: { progressToken, ...progress } })
        }
    const finish = (status: number, body: unknown): void => {
      if (sse !== undefined) {
        sse.write(body)
        sse.end()
      } else {
        reply.code(status).type('application/json').send(body)
      }
    }
    try {
      const outcome = await this.#o.tools.call(user, name, args, {
        signal: ctx.signal,
        headers: ctx.trace,
        onProgress,
        ...(responses !== undefined && Object.keys(responses).length > 0 && { inputResponses: responses as Record<string, JsonObject> }),
        ...(requestState !== undefined && { requestState }),
      })
      if (outcome.kind === 'result') return finish(200, resultBody(rpc.id, outcome.result))
      const url = this.#o.loginUrl(outcome.intent, ctx.request)
      const text = userActionText(outcome.error, url)
      const elicitation = isJsonObject(capabilities) ? capabilities['elicitation'] : undefined
      if (url !== undefined && isJsonObject(elicitation) && isJsonObject(elicitation['url'])) {
        // The client shows the URL; its retry (with our input answered) runs the call again. @see basic/patterns/mrtr.mdx
        return finish(200, resultBody(rpc.id, { resultType: 'input_required', inputRequests: { [SIGN_IN_INPUT]: { method: 'elicitation/create', params: { mode: 'url', message: text, url } } } }))
      }
      return finish(200, resultBody(rpc.id, toolError(text)))
    } catch (err) {
      if (err instanceof UnknownAggregatedTool) {
        const answer = invalidParams(rpc.id, err.message)
        return finish(answer.status, answer.body)
      }
      if (sse !== undefined) {
        const error = err instanceof RelayError ? err : undefined
        return finish(200, rpcError(rpc.id, -32603, error?.description ?? 'The relay failed to call the tool.', error === undefined ? undefined : { reason: error.reason, status: error.statusCode }))
      }
      throw err
    }
  }

  /** Acknowledges what it honours (tool list changes) and holds the stream. @see basic/patterns/subscriptions.mdx */
  #modernListen (ctx: AggregateRequest, rpc: ModernRequest): void {
    const wanted = isJsonObject(rpc.params['notifications']) ? rpc.params['notifications'] : {}
    const honoured = wanted['toolsListChanged'] === true ? { toolsListChanged: true } : {}
    const subscription = { [META_KEYS.subscriptionId]: rpc.id }
    const sse = this.#listChangedStream(ctx, (writer) => {
      if (honoured.toolsListChanged === true) writer.write({ jsonrpc: '2.0', method: NOTIFICATIONS.toolsListChanged, params: { _meta: subscription } })
    })
    sse.write({ jsonrpc: '2.0', method: NOTIFICATIONS.subscriptionsAcknowledged, params: { notifications: honoured, _meta: subscription } })
  }

  /** An SSE stream held open with keep-alives; `onChange` runs when one of this user's servers changes its tools. */
  #listChangedStream (ctx: AggregateRequest, onChange: (sse: SseWriter) => void): SseWriter {
    const sse = openSse(ctx.reply, this.#o.keepAliveMs)
    const prefix = `${userKey(ctx.caller.user)}|`
    const listener = (poolKey: string): void => { if (poolKey.startsWith(prefix)) onChange(sse) }
    this.#o.toolEvents.on('toolsChanged', listener)
    const watching = new AbortController()
    this.#o.watch.subscribe(ctx.caller.user, watching.signal, () => onChange(sse))
    ctx.reply.raw.once('close', () => {
      this.#o.toolEvents.off('toolsChanged', listener)
      watching.abort()
    })
    return sse
  }
}

interface SseWriter {
  write: (message: unknown) => void
  end: () => void
}

/**
 * For answers the SDK transport or an SSE stream writes itself (hijacked from Fastify): the headers the hooks set
 * so far (request id, CORS) and those the onSend hook would have added.
 */
function writeSecurityHeaders (reply: FastifyReply): void {
  const raw = reply.raw
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) raw.setHeader(name, value)
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) raw.setHeader(name, value)
  raw.setHeader('content-security-policy', API_CSP)
}

/** Takes the answer over from Fastify and streams SSE: no buffering, keep-alive comments between events. */
function openSse (reply: FastifyReply, keepAliveMs: number): SseWriter {
  writeSecurityHeaders(reply)
  reply.hijack()
  const raw = reply.raw
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
  raw.flushHeaders()
  const timer = setInterval(() => { if (!raw.writableEnded) raw.write(': keep-alive\n\n') }, keepAliveMs)
  timer.unref()
  raw.once('close', () => clearInterval(timer))
  return {
    write: (message) => { if (!raw.writableEnded) raw.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`) },
    end: () => {
      clearInterval(timer)
      raw.end()
    },
  }
}

function sendResult (reply: FastifyReply, id: RequestId, result: JsonObject): void {
  reply.code(200).type('application/json').send(resultBody(id, result))
}

function sendAnswer (reply: FastifyReply, answer: { status: number, body: unknown }): void {
  reply.code(answer.status).type('application/json').send(answer.body)
}

function resultBody (id: RequestId, result: JsonObject): JsonObject {
  const meta = isJsonObject(result['_meta']) ? result['_meta'] : {}
  return { jsonrpc: '2.0', id, result: { resultType: 'complete', ...result, _meta: { ...meta, [META_KEYS.serverInfo]: SERVER_INFO } } }
}

function rpcError (id: unknown, code: number, message: string, data?: unknown): JsonObject {
  return { jsonrpc: '2.0', id: typeof id === 'string' || typeof id === 'number' ? id : null, error: { code, message, ...(data !== undefined && { data }) } }
}

function toolError (text: string): { content: Array<{ type: 'text', text: string }>, isError: true } {
  return { content: [{ type: 'text', text }], isError: true }
}

/** What the user must do, in words a client can show: the relay's description and where to go. */
function userActionText (error: RelayError, url: string | undefined): string {
  return url === undefined ? error.description : `${error.description} Open ${url} in a browser to continue, then call the tool again.`
}

/** An SDK-facing error: only our own words and stable reason, never a downstream's. */
function legacyErrorOf (err: unknown): unknown {
  if (err instanceof McpError) return err
  if (err instanceof UnknownAggregatedTool) return new McpError(ErrorCode.InvalidParams, err.message)
  if (err instanceof RelayError) return new McpError(ErrorCode.InternalError, err.description, { reason: err.reason, status: err.statusCode })
  return new McpError(ErrorCode.InternalError, 'The relay failed to call the tool.')
}

function anySignal (...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((signal): signal is AbortSignal => signal !== undefined))
}

function isRequest (message: unknown): message is { method: string, id: RequestId } {
  return isJsonObject(message) && typeof message['method'] === 'string' && 'id' in message
}

function idOf (message: unknown): unknown {
  return isJsonObject(message) ? message['id'] : undefined
}
