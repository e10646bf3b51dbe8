// buildApp: every plugin and route of the relay on a Fastify instance; it never listens (server.ts does).
import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyFormbody from '@fastify/formbody'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { ErrorIntent } from './errors.ts'
import { authChain, requireRouteAuth } from './http/auth.ts'
import { limitConnectionsPerClient } from './http/connection-limit.ts'
import { refuseCrossSite } from './http/csrf.ts'
import { clientErrorHandler, errorHandling, frameworkErrors, type ErrorRendering } from './http/error-handler.ts'
import { jsonBodyParser } from './http/json-body.ts'
import { docsCsp, securityHeaders } from './http/security-headers.ts'
import { browserSessionStrategy, entraBearerStrategy } from './http/strategies.ts'
import { safeUrlForLog } from './observability/logger.ts'
import { authRoutes } from './routes/auth.ts'
import { homeRoutes } from './routes/home.ts'
import { opsRoutes } from './routes/ops.ts'
import { v1Routes } from './routes/v1.ts'
import { resourceMetadataUrlFor, resourcePathOf } from './http/resources.ts'
import { guardMcpOrigin } from './http/mcp-origin.ts'
import { mcpRoutes } from './routes/mcp.ts'
import { AggregateEndpoint } from './gateway/aggregate-endpoint.ts'
import { wellKnownRoutes } from './routes/well-known.ts'
import type { Services } from './services.ts'

export interface AppOptions {
  services: Services
  /** Close the services with the app (the default); tests that share services across apps say false. */
  ownsServices?: boolean
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
/** Longest path parameter: tool names are up to 128 characters, percent-encoded up to three times that. */
const MAX_PARAM_LENGTH = 512

/** Builds the relay's Fastify instance with every route; never listens. */
export async function buildApp ({ services, ownsServices = true }: AppOptions): Promise<FastifyInstance> {
  const { config } = services
  const rendering: ErrorRendering = {
    resourceMetadataUrl: (request) => resourceMetadataUrlFor(config.publicUrl, request.url.split('?')[0] ?? '/'),
    loginUrl: (intent) => loginUrlFor(intent, config),
    // MCP clients take the scope to ask for from the 401 (MCP authorization § Scope Selection Strategy).
    challengeScope: (request) => resourcePathOf(request.url)?.startsWith('/mcp') === true ? config.relayScope : undefined,
  }
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
    // Our own onResponse line logs the URL with query values masked (callback codes, states).
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown body properties are refused, not silently dropped (Fastify's default removes them).
    ajv: { customOptions: { removeAdditional: false } },
    // A request (headers and body) must arrive within REQUEST_TIMEOUT_MS; idle sockets close after
    // CONNECTION_TIMEOUT_MS. Neither limits how long a response may stream.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    trustProxy: typeof config.trustProxy === 'number' ? hopsOf(config.trustProxy) : config.trustProxy,
    // Fastify types this option generically; ours answers every route the same way.
    frameworkErrors: frameworkErrors(rendering) as NonNullable<FastifyServerOptions['frameworkErrors']>,
    clientErrorHandler,
  })
  app.server.headersTimeout = config.headersTimeoutMs
  limitConnectionsPerClient(app.server, config.trustProxy === false ? config.maxConnectionsPerClient : 0)
  if (ownsServices) app.addHook('onClose', async () => { await services.close() })

  // Hooks first, so every route below (the docs included) gets them.
  securityHeaders(app)
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: safeUrlForLog(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })
  errorHandling(app, rendering)
  // Cookies are parsed (their own onRequest hook) before the auth chain reads the session cookie.
  await app.register(fastifyCookie, { secret: services.cookieSecret.toString('base64url') })
  // DNS-rebinding protection of the MCP endpoints comes before authentication.
  guardMcpOrigin(app, { publicUrl: config.publicUrl, allowedHosts: config.mcpAllowedHosts, allowedOrigins: config.corsAllowedOrigins })
  const browserSession = browserSessionStrategy(services.sessions, cookieSettings(config.publicUrl), config.publicUrl)
  authChain(app, { strategies: [entraBearerStrategy(services.validateAccessToken), browserSession] })
  refuseCrossSite(app, config.publicUrl, '/auth/')

  // JSON for the API; urlencoded for the page's sign-out form; nothing else (415).
  app.removeContentTypeParser('text/plain')
  jsonBodyParser(app, { maxDepth: config.maxJsonDepth })
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 })

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'obo-relay', version: '0.1.0', description: 'Calls Entra-protected MCP servers on behalf of the signed-in user.' },
      servers: [{ url: config.publicUrl.origin }],
      components: {
        securitySchemes: {
          entraBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `Entra access token for ${config.relayScope}` },
          session: { type: 'apiKey', in: 'cookie', name: 'obo_session', description: 'Browser session from /auth/login' },
        },
      },
    },
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: (header) => docsCsp(header, config.publicUrl) })

  // From here on every route says how it authenticates.
  requireRouteAuth(app)
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger())
  await app.register(opsRoutes, { readinessChecks: services.readinessChecks })
  await app.register(wellKnownRoutes, { publicUrl: config.publicUrl, authorizationServers: services.entraIssuers, relayScope: config.relayScope, mcpServerIds: services.registry.list().map((server) => server.id) })
  await app.register(authRoutes, { signIn: services.signIn, sessions: services.sessions, cookies: cookieSettings(config.publicUrl), publicUrl: config.publicUrl })
  await app.register(v1Routes, { registry: services.registry, discovery: services.discovery, tools: services.tools, toolFilter: services.toolFilter })
  const aggregate = new AggregateEndpoint({
    tools: services.aggregateTools,
    bindings: services.sessionBindings,
    toolEvents: services.pool.events,
    watch: services.toolWatch,
    loginUrl: rendering.loginUrl,
    keepAliveMs: config.sseKeepAliveMs,
    toolsTtlMs: 30_000,
  })
  await app.register(mcpRoutes, { prefix: '/mcp', passthrough: services.passthrough, aggregate, rendering, corsAllowedOrigins: config.corsAllowedOrigins, maxJsonDepth: config.maxJsonDepth })
  await app.register(homeRoutes, { browserCaller: async (request: FastifyRequest) => await browserSession.optional(request), discovery: services.discovery })
  return app
}

/** Trust the nearest `hops` proxies (the form Fastify's types accept for a hop count). */
function hopsOf (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}

function cookieSettings (publicUrl: URL): { secure: boolean } {
  return { secure: publicUrl.protocol === 'https:' }
}

/** Where a browser user (or the person behind an Entra-bearer agent) acts on an intent. */
function loginUrlFor (intent: ErrorIntent, config: Services['config']): string {
  if (intent.kind === 'admin_consent') {
    // https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
    const url = new URL(`${config.authorityHost.origin}/${intent.tenantId}/v2.0/adminconsent`)
    url.searchParams.set('client_id', config.clientId)
    url.searchParams.set('redirect_uri', config.redirectUri.href)
    const relayDefault = `${config.relayScope.slice(0, config.relayScope.lastIndexOf('/'))}/.default`
    url.searchParams.set('scope', intent.scopes.length > 0 ? intent.scopes.join(' ') : relayDefault)
    return url.href
  }
  const url = new URL('/auth/login', config.publicUrl)
  if (intent.kind === 'consent') {
    url.searchParams.set('prompt', 'consent')
    if (intent.scopes.length > 0) url.searchParams.set('consent_scopes', intent.scopes.join(' '))
  } else if (intent.claims !== undefined) {
    url.searchParams.set('claims', intent.claims)
  }
  return url.href
}
