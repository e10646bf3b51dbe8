// The relay's own Protected Resource Metadata (RFC 9728), so a client that meets a 401 can find out how to get a token.
import type {} from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { errors } from '../errors.ts'

export interface WellKnownOptions {
  publicUrl: URL
  /** Entra issuers whose tokens the relay accepts (mode A). */
  authorizationServers: string[]
  relayScope: string
  serverIds: string[]
}

/** The PRM URL for a resource path, by RFC 9728 §3.1 path insertion. */
export function resourceMetadataUrl (publicUrl: URL, resourcePath = ''): string {
  return new URL(`/.well-known/oauth-protected-resource${resourcePath}`, publicUrl).href
}

export async function wellKnownRoutes (app: FastifyInstance, o: WellKnownOptions): Promise<void> {
  const origin = o.publicUrl.origin
  const document = (resource: string) => ({
    resource,
    authorization_servers: o.authorizationServers,
    scopes_supported: [o.relayScope],
    bearer_methods_supported: ['header'],
    resource_name: 'obo-relay',
    resource_documentation: `${origin}/docs`,
  })
  const schema = { hide: true }
  app.get('/.well-known/oauth-protected-resource', { schema }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return document(origin)
  })
  app.get('/.well-known/oauth-protected-resource/v1', { schema }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return document(`${origin}/v1`)
  })
  app.get('/.well-known/oauth-protected-resource/mcp', { schema }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return document(`${origin}/mcp`)
  })
  app.get('/.well-known/oauth-protected-resource/mcp/:server', { schema }, async (request, reply) => {
    const { server } = request.params as { server: string }
    if (!o.serverIds.includes(server)) throw errors.notFound(`No MCP server "${server}" is configured.`)
    reply.header('cache-control', 'public, max-age=3600')
    return document(`${origin}/mcp/${server}`)
  })
}
