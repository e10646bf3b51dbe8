// Request plumbing shared by routes: trace ids, form parameters, Entra error replies.
import { randomUUID } from 'node:crypto'
import type { Server as HttpsServer } from 'node:https'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { EntraError, errorBody, type RequestTrace } from '../errors.ts'
import { aadsts } from '../errors.ts'

/** The emulator's Fastify instance (HTTPS). */
export type EmulatorApp = FastifyInstance<HttpsServer, FastifyRequest['raw'], FastifyReply['raw'], Logger>

const traces = new WeakMap<FastifyRequest, RequestTrace>()

const CORRELATION_ID = /^[A-Za-z0-9-]{1,64}$/

/** Entra echoes the caller's `client-request-id` (header, or query as MSAL sends it) as the correlation id. */
export function traceOf (request: FastifyRequest): RequestTrace {
  let trace = traces.get(request)
  if (trace === undefined) {
    const query = request.query as Record<string, unknown> | undefined
    const given = request.headers['client-request-id'] ?? query?.['client-request-id']
    const correlationId = typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID()
    trace = { traceId: randomUUID(), correlationId, time: new Date() }
    traces.set(request, trace)
  }
  return trace
}

export function traceHeaders (trace: RequestTrace): Record<string, string> {
  return { 'client-request-id': trace.correlationId, 'x-ms-request-id': trace.traceId }
}

/** Form (or query) parameters as single strings; a repeated parameter makes the request malformed. */
export function formParams (input: unknown): Record<string, string | undefined> {
  const params: Record<string, string | undefined> = {}
  if (typeof input !== 'object' || input === null) return params
  for (const [key, value] of Object.entries(input)) {
    if (typeof value === 'string') params[key] = value
    else if (value !== undefined) throw aadsts.malformedRequest()
  }
  return params
}

export function sendEntraError (request: FastifyRequest, reply: FastifyReply, err: EntraError, baseUrl: string): FastifyReply {
  const trace = traceOf(request)
  reply
    .code(err.status)
    .headers({ ...traceHeaders(trace), 'cache-control': 'no-store, no-cache', pragma: 'no-cache', ...(err.extras.headers ?? {}) })
  return err.extras.textBody === undefined ? reply.send(errorBody(err, trace, baseUrl)) : reply.send(err.extras.textBody)
}

export function isEntraError (value: unknown): value is EntraError {
  return value instanceof EntraError
}

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, char => `&#${char.charCodeAt(0)};`)
}
