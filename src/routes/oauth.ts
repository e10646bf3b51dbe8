// oidc-provider mounted in Fastify: an encapsulated plugin without Fastify's body parsers (the provider reads its
// own bodies, up to 56 KiB) that hands `/oauth/*` and the two metadata documents to the provider's Koa app. Our
// hooks still run (request id, auth chain, logging); the security headers are written on the raw response.
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Provider } from 'oidc-provider'
import { API_CSP, SECURITY_HEADERS } from '../http/security-headers.ts'

export interface OauthRoutesOptions {
  provider: Provider
  publicUrl: URL
  /** Where the provider finds the Fastify request id of the request it serves (for its error bodies and logs). */
  requestIds: WeakMap<IncomingMessage, string>
}

/** The provider's URLs come from Host and X-Forwarded-Proto: both are pinned to PUBLIC_URL, so a forged Host changes nothing. */
export function pinToPublicUrl (request: FastifyRequest, publicUrl: URL): void {
  const headers = request.raw.headers
  headers.host = publicUrl.host
  headers['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1)
  // The client address Fastify decided on (TRUST_PROXY), never one the client wrote.
  headers['x-forwarded-for'] = request.ip
  delete headers['x-forwarded-host']
  delete headers['x-forwarded-port']
  delete headers.forwarded
}

export async function oauthRoutes (app: FastifyInstance, o: OauthRoutesOptions): Promise<void> {
  // The provider parses its own form and JSON bodies; Fastify must leave the stream unread.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })

  const callback = o.provider.callback()
  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    pinToPublicUrl(request, o.publicUrl)
    o.requestIds.set(request.raw, request.id)
    reply.hijack()
    const raw = reply.raw
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) raw.setHeader(name, value as string)
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) raw.setHeader(name, value)
    // Pages (device flow) set their own; everything else is JSON or a redirect.
    raw.setHeader('content-security-policy', API_CSP)
    await new Promise<void>((resolve) => {
      raw.once('close', resolve)
      raw.once('finish', resolve)
      callback(request.raw, raw)
    })
  }
  const route = { config: { auth: 'public' as const }, schema: { hide: true }, handler: serve }
  app.route({ method: ['GET', 'HEAD', 'POST', 'OPTIONS', 'PUT', 'DELETE'], url: '/oauth/*', ...route })
  // RFC 8414 §3 and OIDC Discovery §4: the issuer has no path, so both documents sit at the root.
  for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    app.route({ method: ['GET', 'HEAD', 'OPTIONS'], url, ...route })
  }
}
