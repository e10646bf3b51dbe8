// One session with a legacy-era MCP server (2025-06-18, 2025-11-25) over Streamable HTTP, as the REST tool API
// needs it: initialize, tools/list, tools/call with progress, the session's end. Written over undici's dispatcher
// and Node streams, not the SDK's client: the SDK's fetch, web streams and schema parsing were most of the REST
// path's cost (bench S1/S2, bench/RESULTS.md). Every exchange runs inside a DownstreamCall (deadline, the
// caller's abort, byte cap); nothing the server sends is believed before it is checked.
// @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports (Streamable HTTP)
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { DownstreamCall } from '../downstream/call.ts'
import { dispatchRequest, type UpstreamBody, type UpstreamResponse } from '../net/dispatch-request.ts'
import { single } from '../net/http-client.ts'
import { SseDecoder, EventTooLarge } from './modern/bounded-body.ts'
import { McpHttpError, McpInvalidResponseError, McpResponseTooLargeError, McpRpcError } from './modern/client-errors.ts'
import { ACCEPT_BOTH, ERROR_CODES, HEADERS, JSONRPC_VERSION, LATEST_LEGACY_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS, NOTIFICATIONS } from './modern/protocol.ts'
import type { JsonObject } from './modern/types.ts'
import { isJsonObject } from './json-object.ts'

/** What a server may answer `initialize` with: the legacy revisions, and the two before them the SDK also accepted. */
const ACCEPTED_VERSIONS: readonly string[] = [...LEGACY_PROTOCOL_VERSIONS, '2025-03-26', '2024-11-05']
/** Bounds on the messages the client sends on its own (a cancellation, an answer to a server's request). */
const SIDE_MESSAGE_TIMEOUT_MS = 2_000
/** What is read of a stream after its response arrived, so the connection can be reused; past it, it is cut. */
const TRAILING_BYTES = 64 * 1024
const TRAILING_MS = 1_000
/** A server's own requests answered per exchange; past that they go unanswered (no flood of POSTs back). */
const SERVER_REQUESTS_ANSWERED = 16

export interface Progress { progress: number, total?: number | undefined, message?: string | undefined }

export interface LegacySessionOptions {
  url: URL
  dispatcher: Dispatcher
  accessToken: string
  clientInfo: { name: string, version: string }
  /** A server said its tool list changed (on a request's stream). */
  onToolsChanged?: () => void
}

export interface RequestOptions {
  onProgress?: ((progress: Progress) => void) | undefined
}

function mediaTypeOf (headers: UpstreamResponse['headers']): string {
  return (single(headers['content-type']) ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export class LegacySession {
  readonly #o: LegacySessionOptions
  readonly #origin: string
  readonly #path: string
  #sessionId: string | undefined
  #protocolVersion: string | undefined
  #nextId = 1
  /** The session was ended (DELETE) or given up: it takes no more requests. */
  closed = false

  private constructor (options: LegacySessionOptions) {
    this.#o = options
    this.#origin = options.url.origin
    this.#path = `${options.url.pathname}${options.url.search}`
  }

  /** `initialize`, then `notifications/initialized`: a session ready for requests. */
  static async open (options: LegacySessionOptions, call: DownstreamCall): Promise<LegacySession> {
    const session = new LegacySession(options)
    const result = await session.request('initialize', {
      protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: options.clientInfo,
    }, call)
    const version = result['protocolVersion']
    if (typeof version !== 'string' || !ACCEPTED_VERSIONS.includes(version)) throw new McpInvalidResponseError('the server chose a protocol version the relay does not speak')
    session.#protocolVersion = version
    await session.#notify('notifications/initialized', call.signal, call.headers)
    return session
  }

  get sessionId (): string | undefined {
    return this.#sessionId
  }

  #headers (extra: Record<string, string>): Record<string, string> {
    return {
      ...extra,
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      authorization: `Bearer ${this.#o.accessToken}`,
      ...(this.#sessionId !== undefined && { [HEADERS.sessionId]: this.#sessionId }),
      ...(this.#protocolVersion !== undefined && { [HEADERS.protocolVersion]: this.#protocolVersion }),
    }
  }

  async #post (body: string, signal: AbortSignal, extraHeaders: Record<string, string>, timeoutMs: number): Promise<UpstreamResponse> {
    return await dispatchRequest(this.#o.dispatcher, {
      origin: this.#origin,
      path: this.#path,
      method: 'POST',
      headers: this.#headers(extraHeaders),
      body,
      // The call's deadline ends the exchange; these are only a backstop behind it.
      headersTimeout: timeoutMs + 1000,
      bodyTimeout: timeoutMs + 1000,
    }, signal)
  }

  /**
   * One request; its result, or McpHttpError (non-2xx: the status and challenge only), McpRpcError (a JSON-RPC
   * error: its code only), McpInvalidResponseError, McpResponseTooLargeError, or the transport's error.
   * Leaving early (the call's deadline, the caller gone), it tells the server (`notifications/cancelled`).
   */
  async request (method: string, params: JsonObject, call: DownstreamCall, options: RequestOptions = {}): Promise<JsonObject> {
    call.signal.throwIfAborted()
    const id = this.#nextId++
    const withProgress = options.onProgress === undefined ? params : { ...params, _meta: { ...(isJsonObject(params['_meta']) ? params['_meta'] : {}), progressToken: id } }
    const body = JSON.stringify({ jsonrpc: JSONRPC_VERSION, id, method, params: withProgress })
    try {
      const response = await this.#post(body, call.signal, call.headers, call.timeoutMs)
      const { statusCode, headers } = response
      if (statusCode < 200 || statusCode > 299) {
        const wwwAuthenticate = single(headers['www-authenticate'])
        if (statusCode === 401 || statusCode === 403) call.challenge = { status: statusCode, wwwAuthenticate }
        // Closed, not drained: what a failing server sends is never read.
        response.body.discard()
        throw new McpHttpError(statusCode, { wwwAuthenticate })
      }
      if (method === 'initialize') {
        const sessionId = single(headers[HEADERS.sessionId])
        // Visible ASCII only (the transport's rule): anything else would be sent back in a header.
        if (sessionId !== undefined && !/^[\x21-\x7E]{1,256}$/.test(sessionId)) {
          response.body.discard()
          throw new McpInvalidResponseError('an invalid session id')
        }
        this.#sessionId = sessionId
      }
      return await this.#readResult(response, id, call, options)
    } catch (err) {
      if (call.signal.aborted && method !== 'initialize') this.#cancel(id, call.headers)
      throw err
    }
  }

  /** The response to `id`, from a JSON body or the request's event stream (notifications on it are handled). */
  async #readResult (response: UpstreamResponse, id: number, call: DownstreamCall, options: RequestOptions): Promise<JsonObject> {
    const { body } = response
    const mediaType = mediaTypeOf(response.headers)
    const exchange = { answered: 0 }
    const tooLarge = (bytes: number): McpResponseTooLargeError => {
      call.abort('too_large')
      return new McpResponseTooLargeError(call.maxResponseBytes, bytes)
    }
    if (mediaType === 'application/json') {
      const declared = Number(single(response.headers['content-length']) ?? Number.NaN)
      if (declared > call.maxResponseBytes) {
        body.discard()
        throw tooLarge(0)
      }
      const message = parseMessage(await readText(body, call.maxResponseBytes, tooLarge))
      const result = message === undefined ? undefined : this.#resultOf(message, id, options, exchange)
      if (result === undefined) throw new McpInvalidResponseError('the JSON body is not the response to the request')
      return result
    }
    if (mediaType === 'text/event-stream') {
      const result = await readEvents(body.stream(), call.maxResponseBytes, tooLarge, (data) => {
        const message = parseMessage(data)
        return message === undefined ? undefined : this.#resultOf(message, id, options, exchange)
      })
      if (result === undefined) throw new McpInvalidResponseError('the event stream ended without the response')
      return result
    }
    body.discard()
    throw new McpInvalidResponseError('unexpected content type')
  }

  /** The result of the response to `id`; notifications and the server's own requests are dealt with on the way. */
  #resultOf (message: JsonObject, id: number, options: RequestOptions, exchange: { answered: number }): JsonObject | undefined {
    if (typeof message['method'] === 'string') {
      if (!('id' in message)) this.#onNotification(message['method'], message['params'], id, options)
      else if (exchange.answered++ < SERVER_REQUESTS_ANSWERED) this.#refuseServerRequest(message)
      return undefined
    }
    if (message['id'] !== id) return undefined
    if ('error' in message) {
      const error = message['error']
      const code = isJsonObject(error) && Number.isInteger(error['code']) ? error['code'] as number : ERROR_CODES.internalError
      throw new McpRpcError(code)
    }
    const result = message['result']
    if (!isJsonObject(result)) throw new McpInvalidResponseError('the response has no result object')
    return result
  }

  #onNotification (method: string, params: unknown, id: number, options: RequestOptions): void {
    if (method === NOTIFICATIONS.toolsListChanged) {
      this.#o.onToolsChanged?.()
      return
    }
    if (method !== NOTIFICATIONS.progress || options.onProgress === undefined || !isJsonObject(params)) return
    if (params['progressToken'] !== id || typeof params['progress'] !== 'number') return
    options.onProgress({
      progress: params['progress'],
      ...(typeof params['total'] === 'number' && { total: params['total'] }),
      // Bounded: it is passed on to the caller.
      ...(typeof params['message'] === 'string' && { message: params['message'].slice(0, 1024) }),
    })
  }

  /**
   * The relay declares no client capabilities, so it answers a server's request itself: `ping` with an empty
   * result, anything else (sampling, elicitation, roots) with "method not found", so the server need not wait.
   */
  #refuseServerRequest (message: JsonObject): void {
    const id = message['id']
    if (typeof id !== 'string' && typeof id !== 'number') return
    if (typeof id === 'string' && id.length > 256) return
    const answer = message['method'] === 'ping'
      ? { jsonrpc: JSONRPC_VERSION, id, result: {} }
      : { jsonrpc: JSONRPC_VERSION, id, error: { code: ERROR_CODES.methodNotFound, message: 'The relay does not answer this request.' } }
    this.#side(JSON.stringify(answer), {})
  }

  /** Tells the server the relay gave up on request `id`. @see basic/utilities/cancellation */
  #cancel (id: number, headers: Record<string, string>): void {
    this.#side(JSON.stringify({ jsonrpc: JSONRPC_VERSION, method: NOTIFICATIONS.cancelled, params: { requestId: id, reason: 'The relay stopped waiting.' } }), headers)
  }

  /** A message the relay sends unasked, briefly bounded, its answer unread; a failure changes nothing. */
  #side (body: string, headers: Record<string, string>): void {
    if (this.closed) return
    this.#post(body, AbortSignal.timeout(SIDE_MESSAGE_TIMEOUT_MS), headers, SIDE_MESSAGE_TIMEOUT_MS)
      .then((response) => { dropSmall(response.body) }, () => {})
  }

  async #notify (method: string, signal: AbortSignal, headers: Record<string, string>): Promise<void> {
    const response = await this.#post(JSON.stringify({ jsonrpc: JSONRPC_VERSION, method }), signal, headers, SIDE_MESSAGE_TIMEOUT_MS)
    dropSmall(response.body)
    if (response.statusCode < 200 || response.statusCode > 299) throw new McpHttpError(response.statusCode, { wwwAuthenticate: single(response.headers['www-authenticate']) })
  }

  /** Ends the session downstream (DELETE), bounded; a server that does not support it (405) is fine. */
  async terminate (timeoutMs: number): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.#sessionId === undefined) return
    const response = await dispatchRequest(this.#o.dispatcher, {
      origin: this.#origin,
      path: this.#path,
      method: 'DELETE',
      headers: this.#headers({}),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    }, AbortSignal.timeout(timeoutMs))
    dropSmall(response.body)
  }
}

function parseMessage (text: string): JsonObject | undefined {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return undefined
  }
  return isJsonObject(message) ? message : undefined
}

/** The whole body as text, failing (and cutting the connection) as soon as more than `maxBytes` arrived. */
async function readText (body: UpstreamBody, maxBytes: number, tooLarge: (bytes: number) => Error): Promise<string> {
  const read = await body.readUpTo(maxBytes)
  if (read.whole === undefined) {
    body.discard()
    throw tooLarge(read.bytes)
  }
  const text = read.whole.toString('utf8')
  return text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text
}

/** Reads and drops a body expected to be empty or tiny (a 202), so the connection is reused; past 4 KiB it is closed. */
function dropSmall (body: UpstreamBody): void {
  body.readUpTo(4096).then((read) => { if (read.whole === undefined) body.discard() }, () => {})
}

/**
 * Reads events until `found` returns a value (or throws); undefined when the stream ends first. Each event is
 * bounded by `maxEventBytes`. After the answer the rest of the stream is read briefly and dropped, so the
 * connection can serve the next request; a stream that goes on past that is cut.
 */
async function readEvents<T> (body: Readable, maxEventBytes: number, tooLarge: (bytes: number) => Error, found: (data: string) => T | undefined): Promise<T | undefined> {
  return await new Promise((resolve, reject) => {
    const decoder = new SseDecoder(maxEventBytes)
    let settled = false
    let bytes = 0
    let trailing = 0
    let trailingTimer: NodeJS.Timeout | undefined
    const settle = (): void => {
      settled = true
      trailingTimer = setTimeout(() => body.destroy(), TRAILING_MS)
      trailingTimer.unref()
    }
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength
      if (settled) {
        trailing += chunk.byteLength
        if (trailing > TRAILING_BYTES) body.destroy()
        return
      }
      let events: string[]
      try {
        events = decoder.push(chunk)
      } catch (err) {
        body.destroy()
        reject(err instanceof EventTooLarge ? tooLarge(bytes) : err)
        return
      }
      for (const data of events) {
        let value: T | undefined
        try {
          value = found(data)
        } catch (err) {
          settle()
          reject(err)
          return
        }
        if (value !== undefined) {
          settle()
          resolve(value)
          return
        }
      }
    })
    body.once('close', () => { clearTimeout(trailingTimer) })
    body.once('end', () => { if (!settled) resolve(undefined) })
    body.on('error', (err) => { if (!settled) reject(err) })
  })
}
