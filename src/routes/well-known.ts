// The relay's own Protected Resource Metadata (RFC 9728), so a client that meets a 401 can find out how to get a token.
import type {} from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'

export interface WellKnownOptions {
  publicUrl: URL
  /** The relay's own authorization server first (mode B), then the Entra issuers whose tokens it accepts (mode A). */
  authorizationServers: string[]
  /** The relay authorization server's scopes: what a client asks the first authorization server for. */
  scopes: string[]
  /** The Entra scope of mode A (an Entra token for the relay must carry it). */
  relayScope: string
  /** Configured MCP server ids: each `/mcp/<server>` is a resource of its own. */
  mcpServerIds: readonly string[]
}

/** The resources that exist whatever the configuration, each with its PRM (RFC 9728 §3.1 path insertion). */
export const PROTECTED_PREFIXES = ['/v1', '/mcp'] as const

export async function wellKnownRoutes (app: FastifyInstance, o: WellKnownOptions): Promise<void> {
  const origin = o.publicUrl.origin
  const document = (resource: string) => ({
    resource,
    authorization_servers: o.authorizationServers,
    // Only the relay authorization server's scopes: clients send these to it (and register with them).
    scopes_supported: o.scopes,
    // Mode A: the scope an Entra access token for the relay carries (not a scope of the relay's server).
    entra_scopes_supported: [o.relayScope],
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519'],
    resource_name: 'obo-relay',
    resource_documentation: `${origin}/docs`,
  })
  const options = { config: { auth: 'public' }, schema: { hide: true } } as const
  for (const path of ['', ...PROTECTED_PREFIXES, ...o.mcpServerIds.map((id) => `/mcp/${id}`)]) {
    app.get(`/.well-known/oauth-protected-resource${path}`, options, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=3600')
      return document(`${origin}${path}`)
    })
  }
}
