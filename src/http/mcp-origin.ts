// DNS-rebinding protection for the MCP endpoints (2025-11-25 transports § Security Warning; 2026-07-28
// streamable-http § Security & Endpoint): a `Host` the relay does not answer to, or a present `Origin` that is
// neither the relay's nor an allowed CORS origin, is refused with 403 before anything else runs.
import type { FastifyInstance } from 'fastify'
import { relayError } from '../errors.ts'
import { resourcePathOf } from './resources.ts'

export interface McpOriginOptions {
  publicUrl: URL
  allowedHosts: readonly string[]
  allowedOrigins: readonly string[]
}

export function guardMcpOrigin (app: FastifyInstance, options: McpOriginOptions): void {
  const hosts = new Set(options.allowedHosts.map((host) => host.toLowerCase()))
  const origins = new Set([options.publicUrl.origin, ...options.allowedOrigins])
  // Written with `done` (it never waits); a throw is caught by Fastify's hook runner and becomes the error answer.
  app.addHook('onRequest', (request, _reply, done) => {
    const resource = resourcePathOf(request.url)
    if (resource !== undefined && resource.startsWith('/mcp')) {
      // request.host follows TRUST_PROXY (X-Forwarded-Host from a trusted proxy only).
      if (!hosts.has(request.host.toLowerCase())) throw relayError('host_not_allowed', 'This MCP endpoint does not answer to that Host.')
      const origin = request.headers.origin
      if (origin !== undefined && !origins.has(origin)) throw relayError('origin_not_allowed', 'Requests from this Origin are not allowed.')
    }
    done()
  })
}
