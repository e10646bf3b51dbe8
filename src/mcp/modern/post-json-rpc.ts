// One JSON-RPC request as one HTTP POST, answered by JSON or by a request-scoped SSE stream, bounded in time and bytes.
import { readBoundedText, readSseData } from './bounded-body.ts'
import { McpCallError, McpHttpError, McpInvalidResponseError, McpResponseTooLargeError, McpRpcError, McpTimeoutError, McpUnreachableError } from './client-errors.ts'
import { ERROR_CODES } from './protocol.ts'
import type { JsonObject, JsonRpcNotification, JsonRpcRequest, Result } from './types.ts'
import { isJsonObject } from '../json-object.ts'

export type FetchLike = typeof globalThis.fetch

export interface PostJsonRpcOptions {
  url: string | URL
  fetch: FetchLike
  message: JsonRpcRequest
  /** Every header of the POST (the era's headers, `Authorization`, …). */
  headers: Record<string, string>
  /** Limit for a whole JSON body and for each SSE event. */
  maxResponseBytes: number
  /** For the whole exchange, SSE stream included. */
  timeoutMs: number
  signal?: AbortSignal | undefined
  /** Notifications that arrive on the request's SSE stream before its response. */
  onNotification?: ((notification: JsonRpcNotification) => void) | undefined
}

export interface JsonRpcExchange {
  result: Result
  status: number
  headers: Headers
}

/** Bytes of an error body read to find its JSON-RPC code; the rest of it is never read. */
const ERROR_BODY_MAX_BYTES = 64 * 1024
const VERSION_STRING = /^[\w.-]{1,64}$/

function mediaTypeOf (headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/**
 * POSTs `message` and returns the result of the response carrying its id. Throws McpHttpError for a non-2xx answer,
 * McpRpcError for a JSON-RPC error, McpTimeoutError, McpResponseTooLargeError, McpInvalidResponseError,
 * McpUnreachableError, or the caller's abort reason. Leaving, it aborts the request: on HTTP, closing the stream is
 * how a client cancels, so nothing keeps running downstream for an answer nobody reads.
 * @see basic/transports/streamable-http.mdx § Sending Messages, § Receiving Messages, § Cancellation
 * @see basic/patterns/cancellation.mdx § Timeouts
 */
export async function postJsonRpc (options: PostJsonRpcOptions): Promise<JsonRpcExchange> {
  const { signal } = options
  signal?.throwIfAborted()
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, options.timeoutMs)
  const onCallerAbort = (): void => controller.abort(signal?.reason)
  signal?.addEventListener('abort', onCallerAbort, { once: true })
  const stop = (): void => controller.abort()
  try {
    const response = await options.fetch(options.url, {
      method: 'POST',
      headers: options.headers,
      body: JSON.stringify(options.message),
      signal: controller.signal,
      // A redirect would replay the POST, credentials included, somewhere we did not choose.
      redirect: 'manual',
    })
    if (response.status < 200 || response.status > 299) throw await httpErrorOf(response, stop)
    const result = await readResult(response, options, stop)
    return { result, status: response.status, headers: response.headers }
  } catch (err) {
    if (timedOut) throw new McpTimeoutError(options.timeoutMs)
    if (signal?.aborted === true) throw signal.reason
    if (err instanceof McpCallError) throw err
    throw new McpUnreachableError(err)
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onCallerAbort)
    controller.abort()
  }
}

async function readResult (response: Response, options: PostJsonRpcOptions, stop: () => void): Promise<Result> {
  const { body } = response
  if (body === null || response.status === 202 || response.status === 204) throw new McpInvalidResponseError('no JSON-RPC response to a request')
  const mediaType = mediaTypeOf(response.headers)
  const { id } = options.message
  if (mediaType === 'application/json') {
    const declared = Number(response.headers.get('content-length') ?? Number.NaN)
    if (declared > options.maxResponseBytes) {
      stop()
      throw new McpResponseTooLargeError(options.maxResponseBytes, 0)
    }
    const message = parseMessage(await readBoundedText(body, options.maxResponseBytes, stop))
    const result = resultOf(message, id)
    if (result === undefined) throw new McpInvalidResponseError('the JSON body is not the response to the request')
    return result
  }
  if (mediaType === 'text/event-stream') {
    for await (const data of readSseData(body, options.maxResponseBytes, stop)) {
      const message = parseMessage(data)
      const result = resultOf(message, id)
      if (result !== undefined) return result
      // Requests from the server (legacy habits) are not ours to answer here; only notifications are passed on.
      if (typeof message['method'] === 'string' && !('id' in message)) options.onNotification?.(message as unknown as JsonRpcNotification)
    }
    throw new McpInvalidResponseError('the event stream ended without the response')
  }
  throw new McpInvalidResponseError('unexpected content type')
}

function parseMessage (text: string): JsonObject {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    throw new McpInvalidResponseError('not JSON')
  }
  if (!isJsonObject(message)) throw new McpInvalidResponseError('not a JSON-RPC message')
  return message
}

/** The result of the response to `id`, undefined for any other message; throws McpRpcError for an error response to `id`. */
function resultOf (message: JsonObject, id: JsonRpcRequest['id']): Result | undefined {
  if ('method' in message || message['id'] !== id) return undefined
  if ('error' in message) throw new McpRpcError(codeOf(message['error']) ?? ERROR_CODES.internalError)
  const result = message['result']
  if (!isJsonObject(result)) throw new McpInvalidResponseError('the response has no result object')
  return result
}

function codeOf (error: unknown): number | undefined {
  return isJsonObject(error) && Number.isInteger(error['code']) ? error['code'] as number : undefined
}

/** The status, `WWW-Authenticate` and JSON-RPC code of a failed answer; the body itself goes no further. */
async function httpErrorOf (response: Response, stop: () => void): Promise<McpHttpError> {
  const wwwAuthenticate = response.headers.get('www-authenticate') ?? undefined
  let rpcCode: number | undefined
  let supportedVersions: string[] | undefined
  if (response.body !== null && mediaTypeOf(response.headers) === 'application/json') {
    try {
      const message = JSON.parse(await readBoundedText(response.body, ERROR_BODY_MAX_BYTES, stop)) as unknown
      const error = isJsonObject(message) ? message['error'] : undefined
      rpcCode = codeOf(error)
      const data = isJsonObject(error) ? error['data'] : undefined
      const supported = isJsonObject(data) ? data['supported'] : undefined
      if (rpcCode === ERROR_CODES.unsupportedProtocolVersion && Array.isArray(supported) && supported.length <= 32) {
        supportedVersions = supported.filter((version): version is string => typeof version === 'string' && VERSION_STRING.test(version))
      }
    } catch {
      // No usable JSON-RPC error in it: the status alone tells the caller what happened.
    }
  }
  return new McpHttpError(response.status, { wwwAuthenticate, rpcCode, supportedVersions })
}
