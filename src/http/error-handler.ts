// The one place a failure becomes an HTTP answer: typed RelayErrors with their challenge and login_url,
// Fastify's own 4xx, errors before routing (framework errors) and on the raw socket (431, 408, framing),
// all in the relay's JSON shape with a request id, and never a stack trace or an upstream value.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { formatChallenge, relayError, RelayError, temporarilyUnavailable, type ErrorIntent, type Reason } from '../errors.ts'
import { StoreUnavailableError } from '../stores/types.ts'
import { SECURITY_HEADERS, API_CSP } from './security-headers.ts'

export interface ErrorRendering {
  /** The PRM URL of the resource the request addressed (RFC 9728 §5.1). */
  resourceMetadataUrl: (request: FastifyRequest) => string
  /** Where the user can act on an intent (sign in again, consent), for this kind of caller. */
  loginUrl: (intent: ErrorIntent, request: FastifyRequest) => string | undefined
  /** The scope a 401 names when the error sets none (MCP clients ask for it: 2025-11-25 authorization § Scope Selection). */
  challengeScope?: (request: FastifyRequest) => string | undefined
}

/** The DPoP proof algorithms the relay's resources accept (RFC 9449 §7.1 `algs`). */
const DPOP_CHALLENGE_ALGS = 'ES256 EdDSA Ed25519'

/** Fastify's own errors, by code, mapped to stable reasons. */
const FASTIFY_REASONS: Record<string, Reason> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'media_type_unsupported',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'json_invalid',
  FST_ERR_CTP_INVALID_JSON_BODY: 'json_invalid',
  FST_ERR_BAD_URL: 'invalid_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
}

const FASTIFY_DESCRIPTIONS: Partial<Record<Reason, string>> = {
  body_too_large: 'The request body is too large.',
  uri_too_long: 'A path segment of the URL is too long.',
  media_type_unsupported: 'Unsupported Content-Type: send application/json.',
  json_invalid: 'The request body is not valid JSON.',
}

export function toRelayError (err: FastifyError | Error): RelayError {
  if (err instanceof RelayError) return err
  if (err instanceof StoreUnavailableError) return temporarilyUnavailable('store_unavailable', 'The relay\'s shared store is unavailable; retry shortly.', 2, { cause: err })
  const fastifyError = err as FastifyError
  if (fastifyError.validation !== undefined) return relayError('body_invalid', `Invalid request: ${fastifyError.message}`)
  const reason = fastifyError.code === undefined ? undefined : FASTIFY_REASONS[fastifyError.code]
  if (reason !== undefined) {
    return relayError(reason, FASTIFY_DESCRIPTIONS[reason] ?? 'The request is malformed.')
  }
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500
  if (status >= 400 && status < 500) return relayError('invalid_request', 'The request is malformed.')
  return relayError('internal', 'The relay failed to handle the request.', { cause: err })
}

export function sendError (error: RelayError, request: FastifyRequest, reply: FastifyReply, rendering: ErrorRendering): FastifyReply {
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(prepareError(error, request, reply, rendering))
}

/** The headers of an error answer (challenge, Retry-After…) set on `reply`, and its body in the relay's JSON shape. */
function prepareError (error: RelayError, request: FastifyRequest, reply: FastifyReply, rendering: ErrorRendering): Record<string, unknown> {
  const level = error.statusCode >= 500 ? (error.reason === 'internal' ? 'error' : 'warn') : 'info'
  request.log[level]({ reason: error.reason, status: error.statusCode, ...error.logFields, ...(error.reason === 'internal' ? { err: error.cause } : {}) }, 'request refused')
  if (error.challenge !== undefined) {
    // A refused DPoP credential has no caller yet, but is answered in kind (RFC 9449 §7.1), with the algorithms.
    const scheme = request.caller?.scheme ?? (/^DPoP\s/i.test(request.headers.authorization ?? '') ? 'DPoP' : 'Bearer')
    const scope = error.challenge.scope ?? (error.statusCode === 401 ? rendering.challengeScope?.(request) : undefined)
    const challenge = scope === undefined ? error.challenge : { ...error.challenge, scope }
    let header = formatChallenge(scheme, challenge, rendering.resourceMetadataUrl(request), scheme === 'DPoP' ? { algs: DPOP_CHALLENGE_ALGS } : {})
    // A DPoP-bound token sent as Bearer: the DPoP challenge too, naming what to send instead (RFC 9449 §7.1, §7.2).
    if (error.reason === 'dpop_bound_token_as_bearer') header += `, ${formatChallenge('DPoP', challenge, rendering.resourceMetadataUrl(request), { algs: DPOP_CHALLENGE_ALGS })}`
    reply.header('www-authenticate', header)
  }
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  const loginUrl = error.intent === undefined ? undefined : rendering.loginUrl(error.intent, request)
  return {
    error: error.code,
    reason: error.reason,
    error_description: error.description,
    ...error.extra,
    ...(loginUrl === undefined ? {} : { login_url: loginUrl }),
    request_id: request.id,
  }
}

/** JSON-RPC error codes for the relay's own failures, by HTTP status. */
function rpcCodeOf (status: number): number {
  if (status === 404) return -32001
  if (status === 504) return -32001
  if (status === 400 || status === 413 || status === 415) return -32600
  return -32603
}

/**
 * The same error in JSON-RPC form, where the MCP protocol expects one (a POST carrying a request): the HTTP
 * status and challenge stay as they are, the relay's JSON shape travels in `error.data`.
 */
export function sendRpcError (error: RelayError, request: FastifyRequest, reply: FastifyReply, rendering: ErrorRendering, id: string | number | undefined): FastifyReply {
  const data = prepareError(error, request, reply, rendering)
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send({
    jsonrpc: '2.0',
    ...(id === undefined ? { id: null } : { id }),
    error: { code: rpcCodeOf(error.statusCode), message: error.description, data },
  })
}

export function errorHandling (app: FastifyInstance, rendering: ErrorRendering): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => sendError(toRelayError(err), request, reply, rendering))
  app.setNotFoundHandler((request, reply) => {
    // The path only, never the query: it may carry codes or tokens.
    const path = request.url.split('?')[0] ?? ''
    return sendError(relayError('route_not_found', `No route for ${request.method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`), request, reply, rendering)
  })
}

/** Errors before routing (bad percent-encoding, an over-long path parameter) in the relay's shape. */
export function frameworkErrors (rendering: ErrorRendering) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => sendError(toRelayError(err), request, reply, rendering)
}

/**
 * Node's HTTP parser failed before Fastify saw a request (headers too large, a request that took too long,
 * broken framing): answer on the raw socket, in the relay's shape, then close it.
 */
export function clientErrorHandler (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, description] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'headers_too_large', 'The request headers are too large.']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'invalid_request', 'The request took too long to arrive.']
      : [400, 'invalid_request', 'The request is malformed.']
  const body = JSON.stringify({ error: 'invalid_request', reason, error_description: description })
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    'content-security-policy': API_CSP,
    ...SECURITY_HEADERS,
  }
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`)
  }
  socket.destroy()
}
