// The MCP endpoints (DESIGN §2, §7): `/mcp/:server`, a streaming pass-through to one server, and `/mcp`, one
// dual-era server aggregating every server the user can reach. Both are `auth: 'caller'`, CORS-enabled for
// CORS_ALLOWED_ORIGINS, and read bodies as bytes: the pass-through forwards them, the aggregate parses them.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { scopeForMcpMessage } from '../agent-auth/scopes.ts'
import { insufficientScope } from '../errors.ts'
import { callerOf, type Caller } from '../http/auth.ts'
import { allowCors } from '../http/cors.ts'
import { sendRpcError, toRelayError, type ErrorRendering } from '../http/error-handler.ts'
import { jsonDepthExceeds } from '../http/json-body.ts'
import { GatewayRpcError, type PassthroughProxy } from '../gateway/passthrough.ts'
import type { AggregateEndpoint } from '../gateway/aggregate-endpoint.ts'
import type { StreamGuard } from '../gateway/stream-guard.ts'
import { traceHeaders } from '../observability/trace.ts'

export interface McpRoutesOptions {
  passthrough: PassthroughProxy
  aggregate: AggregateEndpoint
  /** Every request is tracked while it lasts, so a stream ends with its credential. */
  streams: StreamGuard
  rendering: ErrorRendering
  corsAllowedOrigins: readonly string[]
  maxJsonDepth: number
}

const serverParam = { type: 'object', required: ['server'], properties: { server: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } } } as const
const METHODS = ['GET', 'POST', 'DELETE'] as const
const EXPOSED = ['mcp-session-id', 'mcp-protocol-version', 'www-authenticate']

/** Aborted when the client goes away before the answer is complete: the upstream request is cancelled with it. */
export function disconnectController (reply: FastifyReply): AbortController {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected')) })
  return controller
}

/** The JSON-RPC id of a buffered request body, for errors in JSON-RPC form; parsed only on that path. */
export function requestIdOf (body: unknown): string | number | undefined {
  let message = body
  if (Buffer.isBuffer(body)) {
    try {
      message = JSON.parse(body.toString('utf8'))
    } catch {
      return undefined
    }
  }
  const id = typeof message === 'object' && message !== null ? (message as { id?: unknown }).id : undefined
  return typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id)) ? id : undefined
}

/**
 * An agent's token needs `tools:read` to reach an MCP endpoint at all (checked with the token) and `tools:call`
 * for any message that is not a read (`tools/call` above all). Only a token without `tools:call` has its body
 * looked at here; a body that is not JSON then counts as a call (closed, not open).
 */
function requireMessageScope (caller: Caller, message: () => unknown): void {
  const scopes = caller.grant?.scopes
  if (scopes === undefined || scopes.includes('tools:call')) return
  let needed: ReturnType<typeof scopeForMcpMessage>
  try {
    needed = scopeForMcpMessage(message())
  } catch {
    needed = 'tools:call'
  }
  if (!scopes.includes(needed)) throw insufficientScope(`This MCP request needs the scope ${needed}; the token has ${scopes.join(' ') || 'none'}.`, needed)
}

/** Registered with prefix `/mcp`: its CORS preflight route stays under it. */
export async function mcpRoutes (app: FastifyInstance, o: McpRoutesOptions): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
  await allowCors(app, { allowedOrigins: o.corsAllowedOrigins, exposedHeaders: EXPOSED })
  // The catch-all preflight route of CORS is `/mcp/*`; `/mcp` itself needs its own (the CORS hook answers it).
  app.options('', { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) => { reply.callNotFound() })

  const fail = (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const id = request.method === 'POST' ? requestIdOf(request.body) : undefined
    if (err instanceof GatewayRpcError) {
      return reply.code(err.status).type('application/json').send({ jsonrpc: '2.0', id: id ?? null, error: { code: err.code, message: err.message } })
    }
    const relayError = toRelayError(err as Error)
    return sendRpcError(relayError, request, reply, o.rendering, id)
  }

  // Cut when the credential goes (the client sees its stream end and must authenticate again).
  const guard = (caller: Caller, reply: FastifyReply): void => {
    const untrack = o.streams.track(caller, () => { reply.raw.destroy() })
    reply.raw.once('close', untrack)
  }

  for (const method of METHODS) {
    app.route({
      method,
      url: '/:server',
      config: { auth: 'caller' },
      schema: { hide: true, params: serverParam },
      handler: async (request: FastifyRequest<{ Params: { server: string } }>, reply) => {
        const caller = callerOf(request)
        const { user } = caller
        guard(caller, reply)
        try {
          if (method === 'POST') requireMessageScope(caller, () => JSON.parse(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : ''))
          const answer = await o.passthrough.forward({
            serverId: request.params.server,
            user,
            method,
            headers: request.headers,
            body: Buffer.isBuffer(request.body) ? request.body : undefined,
            abort: disconnectController(reply),
            trace: traceHeaders(request),
          })
          reply.code(answer.status).headers(answer.headers)
          if (answer.kind === 'json') {
            if (answer.headers['content-type'] === undefined) reply.type('application/json')
            return reply.send(Buffer.isBuffer(answer.body) ? answer.body : JSON.stringify(answer.body))
          }
          return reply.send(answer.body)
        } catch (err) {
          return fail(err, request, reply)
        }
      },
    })

    app.route({
      method,
      url: '',
      config: { auth: 'caller' },
      schema: { hide: true },
      handler: async (request, reply) => {
        const caller = callerOf(request)
        guard(caller, reply)
        let message: unknown
        if (method === 'POST') {
          try {
            message = JSON.parse(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '')
          } catch {
            return reply.code(400).type('application/json').send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the body is not JSON' } })
          }
          if (jsonDepthExceeds(message, o.maxJsonDepth)) {
            return reply.code(400).type('application/json').send({ jsonrpc: '2.0', id: null, error: { code: -32600, message: `Invalid request: the body nests deeper than ${o.maxJsonDepth} levels` } })
          }
        }
        try {
          if (method === 'POST') requireMessageScope(caller, () => message)
          await o.aggregate.handle({ caller, method, request, reply, message, signal: disconnectController(reply).signal, trace: traceHeaders(request) })
          return reply
        } catch (err) {
          if (reply.sent || reply.raw.headersSent) {
            request.log.warn({ err }, 'aggregate /mcp failed after the answer started')
            reply.raw.destroy()
            return reply
          }
          return fail(err, request, reply)
        }
      },
    })
  }
}
