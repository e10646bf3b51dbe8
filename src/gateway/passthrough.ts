// `/mcp/:server`: a streaming reverse proxy to one MCP server, in whatever era the client and server speak.
// The caller's credential is swapped for an On-Behalf-Of token for that server; nothing else of the caller's
// (cookies, its relay token) goes upstream, and only allow-listed headers come back.
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { userKey, type UserAssertion } from '../caller/user-assertion.ts'
import type { McpServerConfig } from '../config/index.ts'
import { classifyDownstreamStatus, downstreamError, retryFor, type DownstreamFailure } from '../downstream/policy.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import type { OboService } from '../entra/obo.ts'
import { relayError, RelayError } from '../errors.ts'
import { ResponseTooLargeError } from '../net/body-limit.ts'
import { dispatchRequest, type BodyRead, type UpstreamResponse } from '../net/dispatch-request.ts'
import { single } from '../net/http-client.ts'
import { McpResponseTooLargeError } from '../mcp/modern/client-errors.ts'
import { HEADERS, METHODS, isLegacyVersion, validateModernRequest, type JsonRpcErrorResponse } from '../mcp/modern/index.ts'
import type { ScopeResolver } from '../mcp/tool-service.ts'
import type { SessionBindings } from './session-bindings.ts'
import { isEventStream, StreamForwarder } from './stream-forwarder.ts'
import type { ToolFilter } from './tool-filter.ts'
import { filterToolsListAnswer, toolCallsIn } from './filtered-answer.ts'

export interface PassthroughOptions {
  registry: ServerRegistry
  discovery: ScopeResolver
  obo: OboService
  bindings: SessionBindings
  filter: ToolFilter
  dispatcher: Dispatcher
  logger: Logger
  /** Until the MCP server's response headers arrive. */
  headersTimeoutMs: number
  idleTimeoutMs: number
  totalTimeoutMs: number
  keepAliveMs: number
  maxResponseBytes: number
  /** Each upstream exchange until its response headers: server, outcome (`ok` or a reason) and duration (metrics). */
  onDownstream?: (labels: { server: string, outcome: string }, seconds: number) => void
}

export interface PassthroughRequest {
  serverId: string
  user: UserAssertion
  method: 'GET' | 'POST' | 'DELETE'
  headers: Readonly<Record<string, string | string[] | undefined>>
  body: Buffer | undefined
  /**
   * Aborted by the route when the client goes away, and by the proxy when it gives up (its total timeout, an
   * answer past its bound, a failure): the upstream exchange ends with it. The proxy's reasons are its own errors.
   */
  abort: AbortController
  /** W3C trace context and the relay's request id for the upstream request (they replace the client's traceparent). */
  trace?: Record<string, string>
}

export type PassthroughAnswer =
  | { kind: 'stream', status: number, headers: Record<string, string>, body: Readable }
  /** A whole answer: an object to serialize, or a Buffer sent as it is under its own `content-type` (JSON or SSE). */
  | { kind: 'json', status: number, headers: Record<string, string>, body: unknown }

/** Request headers that go upstream besides every `Mcp-*` (the spec: intermediaries forward what they do not check). */
const REQUEST_HEADERS = new Set(['accept', 'content-type', 'last-event-id', 'traceparent', 'tracestate', 'baggage'])
/** Response headers that come back; everything else (Set-Cookie, Location, CSP, Access-Control-*, …) stays behind. */
const RESPONSE_HEADERS = new Set(['content-type', 'cache-control', 'mcp-session-id', 'mcp-protocol-version', 'retry-after', 'allow'])
const ERROR_BODY_MAX_BYTES = 64 * 1024
/** Answers (not SSE) of at most this many bytes are read whole and sent in one write. */
const BUFFERED_ANSWER_MAX_BYTES = 64 * 1024
const TOTAL_TIMEOUT = 'total timeout'
/** JSON-RPC code the SDKs use for "session not found". */
const SESSION_NOT_FOUND = -32001

export class PassthroughProxy {
  readonly #o: PassthroughOptions

  /** Answers up to this size are taken whole: BUFFERED_ANSWER_MAX_BYTES, never past the response bound. */
  readonly #wholeMaxBytes: number

  constructor (options: PassthroughOptions) {
    this.#o = options
    this.#wholeMaxBytes = Math.min(BUFFERED_ANSWER_MAX_BYTES, options.maxResponseBytes)
  }

  async forward (request: PassthroughRequest): Promise<PassthroughAnswer> {
    const server = this.#o.registry.get(request.serverId)
    const scope = `server:${server.id}`
    const owner = userKey(request.user)

    let message: unknown
    const parse = (): unknown => {
      if (message === undefined && request.body !== undefined) {
        try {
          message = JSON.parse(request.body.toString('utf8'))
        } catch {
          throw new GatewayRpcError(400, -32700, 'Parse error: the body is not JSON')
        }
      }
      return message
    }
    // Modern requests mirror their body in headers: check them before anything is spent on the request.
    const version = header(request.headers, HEADERS.protocolVersion)
    // Only a modern request whose headers were checked against its body may be taken at its `Mcp-Method`.
    let modernChecked = false
    if (request.method === 'POST' && version !== undefined && !isLegacyVersion(version)) {
      // The versions the server supports are its business: any version the client names passes here.
      const validation = validateModernRequest(request.headers, parse(), { supportedVersions: [version] })
      if (!validation.ok) return { kind: 'json', status: validation.status, headers: {}, body: validation.error }
      modernChecked = true
    }
    const methodOfBody = (): string | undefined => {
      if (modernChecked) return header(request.headers, HEADERS.method)
      const m = parse()
      return typeof m === 'object' && m !== null && !Array.isArray(m) && typeof (m as { method?: unknown }).method === 'string' ? (m as { method: string }).method : undefined
    }

    const sessionId = header(request.headers, HEADERS.sessionId)
    if (sessionId !== undefined) {
      const binding = await this.#o.bindings.get(scope, sessionId)
      // Another user's session, or one never opened through the relay, does not exist for this caller.
      if (binding?.user !== owner) return sessionNotFound()
    }

    const allowed = this.#o.filter.forServer(request.user, server.id)
    if (allowed !== undefined && request.method === 'POST') {
      const calls = toolCallsIn(parse())
      if (calls === 'batch') throw new GatewayRpcError(400, -32600, 'Batches are not accepted where tool filters apply')
      const denied = calls.find((name) => !allowed(name))
      if (denied !== undefined) throw relayError('tool_not_allowed', `You may not use the tool "${denied}" of server "${server.id}".`)
    }

    const { scopes } = await this.#o.discovery.resolve(server.id)
    const controller = request.abort
    // subscriptions/listen is modern only, named in a header checked against the body above (a legacy request's header counts for nothing).
    const exempt = request.method === 'GET' || (modernChecked && header(request.headers, HEADERS.method) === METHODS.subscriptionsListen)
    const total = exempt || request.method === 'DELETE' ? undefined : setTimeout(() => controller.abort(new Error(TOTAL_TIMEOUT)), this.#o.totalTimeoutMs)
    const release = (): void => { clearTimeout(total) }
    try {
      const upstream = await this.#exchange(server, request, scopes, controller.signal)
      const answer = await this.#answer(server, request, upstream, controller, sessionId, allowed === undefined ? undefined : { allowed, methodOfBody })
      if (answer.kind === 'stream') {
        answer.body.once('close', release)
        controller.signal.addEventListener('abort', () => { answer.body.destroy() }, { once: true })
      } else {
        release()
      }
      return answer
    } catch (err) {
      release()
      controller.abort()
      throw err
    }
  }

  /** One request upstream with the user's OBO token; a refused token is replaced once (the server ran nothing). */
  async #exchange (server: McpServerConfig, request: PassthroughRequest, scopes: string[], signal: AbortSignal): Promise<UpstreamResponse> {
    for (let attempt = 0; ; attempt++) {
      const options = { forceRefresh: attempt > 0, target: `server "${server.id}"` }
      const token = this.#o.obo.cached(request.user, scopes, options) ?? await this.#o.obo.exchange(request.user, scopes, options)
      const checking = this.#o.discovery.checkIssued(server.id, token, request.user)
      if (checking !== undefined) await checking
      let upstream: UpstreamResponse
      const started = performance.now()
      const observe = (outcome: string): void => { this.#o.onDownstream?.({ server: server.id, outcome }, (performance.now() - started) / 1000) }
      try {
        upstream = await dispatchRequest(this.#o.dispatcher, {
          origin: server.url.origin,
          path: `${server.url.pathname}${server.url.search}`,
          method: request.method,
          headers: forwardedHeaders(request.headers, request.trace, `Bearer ${token.accessToken}`),
          // A body only where the transport has one: a DELETE's would bypass the checks POST bodies get.
          body: request.method === 'POST' ? (request.body ?? null) : null,
          headersTimeout: this.#o.headersTimeoutMs,
          bodyTimeout: this.#o.idleTimeoutMs,
        }, signal)
      } catch (err) {
        const failure = transportFailure(err, signal)
        observe(failure.kind)
        throw downstreamError(failure, server.id, this.#o.headersTimeoutMs)
      }
      const failure = classifyDownstreamStatus(upstream.statusCode, single(upstream.headers['www-authenticate']))
      observe(failure === undefined ? 'ok' : failure.kind)
      if (failure === undefined || failure.kind === 'session_lost') return upstream
      // Discarded: closed, not drained (a hostile server could keep sending after the relay has answered).
      upstream.body.discard()
      if (retryFor(failure) === 'new_token' && attempt === 0) {
        this.#o.logger.info({ tid: request.user.tid, oid: request.user.oid, server: server.id, retry: 'new_token' }, 'downstream retry')
        if (failure.kind === 'token_refused' && failure.resourceMetadata !== undefined) this.#o.discovery.noteResourceMetadata?.(server.id, failure.resourceMetadata)
        continue
      }
      throw downstreamError(failure, server.id, this.#o.headersTimeoutMs)
    }
  }

  async #answer (
    server: McpServerConfig,
    request: PassthroughRequest,
    upstream: UpstreamResponse,
    controller: AbortController,
    sessionId: string | undefined,
    filtering: { allowed: (tool: string) => boolean, methodOfBody: () => string | undefined } | undefined
  ): Promise<PassthroughAnswer> {
    const scope = `server:${server.id}`
    const status = upstream.statusCode
    if (status === 404 && sessionId !== undefined) {
      upstream.body.discard()
      await this.#o.bindings.unbind(scope, sessionId)
      return sessionNotFound()
    }
    if (status >= 400) return await sanitizedError(upstream, status)

    const headers = allowedHeaders(upstream.headers)
    const newSession = headers['mcp-session-id']
    if (newSession !== undefined && newSession !== sessionId) {
      await this.#o.bindings.bind(scope, newSession, { user: userKey(request.user) })
    }
    if (request.method === 'DELETE' && sessionId !== undefined) await this.#o.bindings.unbind(scope, sessionId)

    const contentType = headers['content-type']
    if (filtering !== undefined && request.method === 'POST' && filtering.methodOfBody() === METHODS.toolsList) {
      let body: string
      try {
        body = await filterToolsListAnswer(upstream.body.stream(), contentType, this.#o.maxResponseBytes, filtering.allowed, () => controller.abort())
      } catch (err) {
        // Told apart before the proxy's own abort below (the client's going away is read from the signal).
        const failure: DownstreamFailure = err instanceof McpResponseTooLargeError ? { kind: 'too_large' } : transportFailure(err, controller.signal)
        controller.abort()
        if (failure.kind === 'too_large') this.#o.logger.warn({ server: server.id, limitBytes: this.#o.maxResponseBytes }, 'downstream answer cut: too large')
        throw downstreamError(failure, server.id, this.#o.headersTimeoutMs)
      }
      return { kind: 'json', status, headers: { ...headers, 'content-type': contentType ?? 'application/json' }, body: Buffer.from(body) }
    }
    const declared = Number(single(upstream.headers['content-length']) ?? Number.NaN)
    if (declared > this.#o.maxResponseBytes) {
      controller.abort()
      throw downstreamError({ kind: 'too_large' }, server.id, this.#o.headersTimeoutMs)
    }
    let head: Buffer[] = []
    if (isEventStream(contentType)) {
      headers['x-accel-buffering'] = 'no'
      headers['cache-control'] = 'no-cache'
      // An event stream that has all arrived by now (a legacy server's one-event answer to a POST, as the SDK
      // sends it) is sent as it is in one write. Within the response bound, so within it per event too; one
      // still arriving streams (its first event is sent when it comes, never held for the rest).
      const whole = upstream.body.arrived(this.#wholeMaxBytes)
      if (whole !== undefined) return { kind: 'json', status, headers, body: whole }
    } else if (contentType !== undefined) {
      // A small answer (a JSON-RPC result) is read whole and sent in one write: no stream pair, no pipe. It
      // cannot be used before it is complete anyway. One that outgrows the bound streams from where it got to.
      // (Untyped answers, e.g. an empty 202, stream as they are, so no content type is added to them.)
      // Mostly it came with its headers: taken at once, without waiting for a read.
      const arrived = upstream.body.arrived(this.#wholeMaxBytes)
      if (arrived !== undefined) return { kind: 'json', status, headers, body: arrived }
      const read = await this.#readSmall(server, upstream, controller.signal)
      if (read.whole !== undefined) return { kind: 'json', status, headers, body: read.whole }
      head = read.head
      if (read.bytes > this.#o.maxResponseBytes) {
        // Past the bound before a byte was sent: the client gets the relay's 502, not a cut stream.
        controller.abort()
        this.#o.logger.warn({ server: server.id, limitBytes: this.#o.maxResponseBytes }, 'downstream answer cut: too large')
        throw downstreamError({ kind: 'too_large' }, server.id, this.#o.headersTimeoutMs)
      }
      if (Number.isFinite(declared)) headers['content-length'] = String(declared)
    } else if (Number.isFinite(declared)) {
      headers['content-length'] = String(declared)
    }
    const forwarder = new StreamForwarder({
      maxBytes: this.#o.maxResponseBytes,
      contentType,
      keepAliveMs: this.#o.keepAliveMs,
      onTooLarge: (err: ResponseTooLargeError) => {
        this.#o.logger.warn({ server: server.id, limitBytes: err.limitBytes, perEvent: err.perEvent }, 'downstream answer cut: too large')
        controller.abort()
      },
    })
    const rest = upstream.body.stream()
    rest.on('error', (err) => forwarder.destroy(err))
    forwarder.on('close', () => rest.destroy())
    for (const chunk of head) forwarder.write(chunk)
    rest.pipe(forwarder)
    return { kind: 'stream', status, headers, body: forwarder }
  }

  /**
   * Reads an answer up to BUFFERED_ANSWER_MAX_BYTES (or the response bound, if lower): `whole` when it ended
   * within them, else the chunks read so far (`head`) for the stream to go on from.
   */
  async #readSmall (server: McpServerConfig, upstream: UpstreamResponse, signal: AbortSignal): Promise<BodyRead> {
    try {
      // Never more than the response bound whole: past it the answer streams, and the stream cuts it there.
      return await upstream.body.readUpTo(this.#wholeMaxBytes)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      const failure: DownstreamFailure = code === 'UND_ERR_BODY_TIMEOUT' || timedOut(signal)
        ? { kind: 'timeout' }
        : signal.aborted ? { kind: 'caller_gone' } : { kind: 'closed' }
      throw downstreamError(failure, server.id, this.#o.headersTimeoutMs)
    }
  }
}

/** A JSON-RPC error the gateway answers with itself (parse errors, refused batches). */
export class GatewayRpcError extends Error {
  readonly status: number
  readonly code: number
  constructor (status: number, code: number, message: string) {
    super(message)
    this.name = 'GatewayRpcError'
    this.status = status
    this.code = code
  }
}

function sessionNotFound (): PassthroughAnswer {
  return { kind: 'json', status: 404, headers: {}, body: { jsonrpc: '2.0', id: null, error: { code: SESSION_NOT_FOUND, message: 'Session not found' } } }
}

/**
 * A downstream 4xx the protocol gives meaning to (400 HeaderMismatch, 405 no GET stream, 406, 415…): the status
 * and the JSON-RPC error code pass, the server's words do not (its message and data are replaced by our own,
 * except the versions of -32022, checked to be short version strings).
 */
async function sanitizedError (upstream: UpstreamResponse, status: number): Promise<PassthroughAnswer> {
  let code = -32600
  let id: unknown = null
  let data: unknown
  if (isJson(single(upstream.headers['content-type']))) {
    try {
      const read = await upstream.body.readUpTo(ERROR_BODY_MAX_BYTES)
      if (read.whole === undefined) throw new ResponseTooLargeError(ERROR_BODY_MAX_BYTES, false)
      const text = read.whole.toString('utf8')
      const parsed = JSON.parse(text) as { id?: unknown, error?: { code?: unknown, data?: { supported?: unknown, requested?: unknown } } }
      if (Number.isInteger(parsed.error?.code)) code = parsed.error?.code as number
      if (typeof parsed.id === 'string' || Number.isInteger(parsed.id)) id = parsed.id
      const supported = parsed.error?.data?.supported
      if (code === -32022 && Array.isArray(supported)) data = { supported: supported.filter((v) => typeof v === 'string' && /^[\w.-]{1,64}$/.test(v)).slice(0, 32) }
    } catch {
      // Not a JSON-RPC error: the status alone says what happened.
    }
  }
  upstream.body.discard()
  const headers = allowedHeaders(upstream.headers)
  delete headers['mcp-session-id']
  const body: JsonRpcErrorResponse = {
    jsonrpc: '2.0',
    ...(id !== null && { id: id as string | number }),
    error: { code, message: `The MCP server refused the request (HTTP ${status})`, ...(data !== undefined && { data }) },
  }
  return { kind: 'json', status, headers: { ...headers, 'content-type': 'application/json' }, body }
}

/** Aborted by the proxy's own total timeout (not by the client going away). */
function timedOut (signal: AbortSignal): boolean {
  return signal.reason instanceof Error && signal.reason.message === TOTAL_TIMEOUT
}

function transportFailure (err: unknown, signal: AbortSignal): DownstreamFailure {
  if (err instanceof RelayError) return { kind: 'relay', error: err }
  const code = (err as { code?: unknown }).code
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || timedOut(signal)) return { kind: 'timeout' }
  if (signal.aborted) return { kind: 'caller_gone' }
  return { kind: 'unreachable', detail: typeof code === 'string' ? code : 'unknown' }
}

/**
 * What goes upstream of the caller's request headers (Node's, named in lower case), with the relay's trace
 * context and the downstream token (`authorization`).
 */
export function forwardedHeaders (headers: PassthroughRequest['headers'], trace: Record<string, string> | undefined, authorization: string): Record<string, string> {
  const forwarded: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && (name.startsWith('mcp-') || REQUEST_HEADERS.has(name))) forwarded[name] = Array.isArray(value) ? value.join(', ') : value
  }
  if (trace !== undefined) {
    // A traceparent the relay did not take (malformed) starts a new trace: its tracestate belongs to the old one.
    if (trace.traceparent !== forwarded.traceparent) delete forwarded.tracestate
    Object.assign(forwarded, trace)
  }
  forwarded.authorization = authorization
  return forwarded
}

/** The response headers that come back (undici names them in lower case). */
function allowedHeaders (headers: UpstreamResponse['headers']): Record<string, string> {
  const allowed: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && RESPONSE_HEADERS.has(name)) allowed[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return allowed
}

function header (headers: PassthroughRequest['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

function isJson (contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json'
}
