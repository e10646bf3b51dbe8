// The REST API (DESIGN §2): who am I, which servers, their tools, call one.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth/authenticate.ts'
import type { ToolService } from '../mcp/tool-service.ts'
import type { ServerDiscoveryStatus } from '../discovery/scope-discovery.ts'
import { errorResponseSchema } from './schemas.ts'

export interface V1RoutesOptions {
  authenticate: Authenticator
  tools: ToolService
  serverStatus: () => Promise<ServerDiscoveryStatus[]>
}

const serverParam = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }
const toolParam = { type: 'string', minLength: 1, maxLength: 128 }
const errorResponses = { 400: errorResponseSchema, 401: errorResponseSchema, 403: errorResponseSchema, 404: errorResponseSchema, 502: errorResponseSchema, 503: errorResponseSchema, 504: errorResponseSchema }
const security = [{ entraBearer: [] }, { session: [] }]

/** Aborts downstream work when the caller goes away before the answer is sent. */
function disconnectSignal (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return controller.signal
}

export async function v1Routes (app: FastifyInstance, o: V1RoutesOptions): Promise<void> {
  app.get('/v1/me', {
    schema: {
      tags: ['identity'],
      summary: 'Who the caller is',
      security,
      response: {
        200: {
          type: 'object',
          required: ['tid', 'oid', 'mode'],
          properties: { tid: { type: 'string' }, oid: { type: 'string' }, name: { type: ['string', 'null'] }, upn: { type: ['string', 'null'] }, mode: { type: 'string', enum: ['entra_bearer', 'session'] } },
        },
        ...errorResponses,
      },
    },
  }, async (request) => {
    const user = await o.authenticate(request)
    return { tid: user.tid, oid: user.oid, name: user.name ?? null, upn: user.upn ?? null, mode: user.mode }
  })

  app.get('/v1/servers', {
    schema: {
      tags: ['servers'],
      summary: 'Configured MCP servers and their scope discovery status',
      security,
      response: {
        200: {
          type: 'object',
          required: ['servers'],
          properties: {
            servers: {
              type: 'array',
              items: {
                type: 'object',
                required: ['id', 'url', 'status'],
                properties: {
                  id: { type: 'string' },
                  url: { type: 'string' },
                  resource: { type: ['string', 'null'] },
                  scopes: { type: 'array', items: { type: 'string' } },
                  scopeSource: { type: ['string', 'null'], enum: ['prm', 'config', null] },
                  status: { type: 'string', enum: ['ok', 'error', 'pending'] },
                  error: { type: 'string' },
                },
              },
            },
          },
        },
        ...errorResponses,
      },
    },
  }, async (request) => {
    await o.authenticate(request)
    return { servers: await o.serverStatus() }
  })

  app.get('/v1/servers/:server/tools', {
    schema: {
      tags: ['tools'],
      summary: "The server's tools for this user (tools/list, all pages)",
      security,
      params: { type: 'object', required: ['server'], properties: { server: serverParam } },
      response: {
        200: { type: 'object', required: ['tools'], properties: { tools: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
        ...errorResponses,
      },
    },
  }, async (request: FastifyRequest<{ Params: { server: string } }>, reply) => {
    const user = await o.authenticate(request)
    o.tools.server(request.params.server)
    return { tools: await o.tools.listTools(user, request.params.server, disconnectSignal(reply)) }
  })

  app.post('/v1/servers/:server/tools/:tool', {
    schema: {
      tags: ['tools'],
      summary: 'Call a tool; the answer is the MCP CallToolResult (a tool error is 200 with isError: true)',
      security,
      params: { type: 'object', required: ['server', 'tool'], properties: { server: serverParam, tool: toolParam } },
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { arguments: { type: 'object', additionalProperties: true } },
      },
      response: {
        200: { type: 'object', additionalProperties: true, properties: { content: { type: 'array' }, isError: { type: 'boolean' } } },
        ...errorResponses,
        413: errorResponseSchema,
        415: errorResponseSchema,
      },
    },
  }, async (request: FastifyRequest<{ Params: { server: string, tool: string }, Body: { arguments?: Record<string, unknown> } | undefined }>, reply) => {
    const user = await o.authenticate(request)
    o.tools.server(request.params.server)
    return await o.tools.callTool(user, request.params.server, request.params.tool, request.body?.arguments ?? {}, disconnectSignal(reply))
  })
}
