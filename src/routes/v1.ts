// The REST API (DESIGN §2): who am I, which servers, their tools, call one. Every route is `auth: 'caller'`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ScopeDiscovery } from '../discovery/scope-discovery.ts'
import type { ServerRegistry } from '../downstream/registry.ts'
import { callerOf } from '../http/auth.ts'
import type { CallContext, ToolService } from '../mcp/tool-service.ts'
import { traceHeaders } from '../observability/trace.ts'
import type { ToolFilter } from '../gateway/tool-filter.ts'
import { relayError } from '../errors.ts'
import { errorResponses } from './schemas.ts'

export interface V1RoutesOptions {
  registry: ServerRegistry
  discovery: ScopeDiscovery
  tools: ToolService
  /** TOOL_FILTERS: the same tools are hidden and refused here as on /mcp. */
  toolFilter: ToolFilter
}

const serverParam = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }
/** MCP tool names: 1–128 characters (2025-11-25 server/tools "Tool names"). */
const toolParam = { type: 'string', minLength: 1, maxLength: 128 }
const security = [{ entraBearer: [] }, { session: [] }, { relayToken: [] }]
const config = { auth: 'caller' } as const

/** The caller's side of a downstream call: abort when it goes away before the answer; its trace context. */
function callContext (request: FastifyRequest, reply: FastifyReply): CallContext {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return { signal: controller.signal, headers: traceHeaders(request) }
}

export async function v1Routes (app: FastifyInstance, o: V1RoutesOptions): Promise<void> {
  app.get('/v1/me', {
    config,
    schema: {
      tags: ['identity'],
      summary: 'Who the caller is',
      security,
      response: {
        200: {
          type: 'object',
          required: ['tid', 'oid', 'mode'],
          properties: { tid: { type: 'string' }, oid: { type: 'string' }, name: { type: ['string', 'null'] }, upn: { type: ['string', 'null'] }, mode: { type: 'string', enum: ['entra_bearer', 'session', 'agent'] } },
        },
        ...errorResponses,
      },
    },
  }, async (request) => {
    const { user } = callerOf(request)
    return { tid: user.tid, oid: user.oid, name: user.name ?? null, upn: user.upn ?? null, mode: user.mode }
  })

  app.get('/v1/servers', {
    config,
    schema: {
      tags: ['servers'],
      summary: 'Configured MCP servers, their scope discovery and audience binding',
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
                  audience: { type: ['string', 'null'], description: 'the API whose tokens this server receives' },
                  scopes: { type: 'array', items: { type: 'string' } },
                  scopeSource: { type: 'string', enum: ['prm', 'config'] },
                  status: { type: 'string', enum: ['ok', 'error', 'pending'] },
                  error: { type: 'string' },
                  reason: { type: 'string' },
                },
              },
            },
          },
        },
        ...errorResponses,
      },
    },
  }, async () => {
    return { servers: await o.discovery.refreshedStatus() }
  })

  app.get('/v1/servers/:server/tools', {
    config,
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
    const { user } = callerOf(request)
    o.registry.get(request.params.server)
    const allowed = o.toolFilter.forServer(user, request.params.server)
    const tools = await o.tools.listTools(user, request.params.server, callContext(request, reply))
    return { tools: allowed === undefined ? tools : tools.filter((tool) => allowed(tool.name)) }
  })

  app.post('/v1/servers/:server/tools/:tool', {
    config,
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
      },
    },
  }, async (request: FastifyRequest<{ Params: { server: string, tool: string }, Body: { arguments?: Record<string, unknown> } | undefined }>, reply) => {
    const { user } = callerOf(request)
    o.registry.get(request.params.server)
    if (!o.toolFilter.allows(user, request.params.server, request.params.tool)) {
      throw relayError('tool_not_allowed', `You may not use the tool "${request.params.tool}" of server "${request.params.server}".`)
    }
    return await o.tools.callTool(user, request.params.server, request.params.tool, request.body?.arguments ?? {}, callContext(request, reply))
  })
}
