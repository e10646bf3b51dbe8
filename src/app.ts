// buildApp: every plugin and route of the relay on a Fastify instance; it never listens (server.ts does).
import { randomUUID, timingSafeEqual } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyFormbody from '@fastify/formbody'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { relayError } from './errors.ts'
import { shedLoad } from './http/load-shedding.ts'
import { limitClients, limitUsers } from './http/rate-limit.ts'
import { authChain, requireRouteAuth } from './http/auth.ts'
import { limitConnectionsPerClient } from './http/connection-limit.ts'
import { drainConnectionsOnClose } from './http/drain.ts'
import { cookieNames, cookieOptions, readSessionId } from './http/cookies.ts'
import { refuseCrossSite } from './http/csrf.ts'
import { clientErrorHandler, errorHandling, frameworkErrors, type ErrorRendering } from './http/error-handler.ts'
import { jsonBodyParser } from './http/json-body.ts'
import { loginUrlFor } from './http/login-urls.ts'
import { docsCsp, securityHeaders } from './http/security-headers.ts'
import { browserSessionStrategy, entraBearerStrategy, relayTokenStrategy } from './http/strategies.ts'
import { safeUrlForLog } from './observability/logger.ts'
import { AGENT_SCOPES, RESOURCE_SCOPES } from './agent-auth/scopes.ts'
import { agentInteractionRoutes } from './routes/agent-interaction.ts'
import { agentAdminRoutes } from './routes/agent-admin.ts'
import { authRoutes } from './routes/auth.ts'
import { oauthRoutes } from './routes/oauth.ts'
import { createKeyring, deriveKey } from './crypto/keyring.ts'
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
    loginUrl: (intent, request) => loginUrlFor(intent, config, request.caller),
    // MCP clients take the scope to ask for from the 401 (MCP authorization § Scope Selection Strategy): the
    // relay authorization server's scopes, the first authorization server its PRM names.
    challengeScope: (request) => resourcePathOf(request.url)?.startsWith('/mcp') === true ? RESOURCE_SCOPES.join(' ') : undefined,
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
    // Node enforces both timeouts on a periodic sweep (30 s by default): sweep often enough to hold them.
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, Math.floor(config.headersTimeoutMs / 2)) },
    connectionTimeout: config.connectionTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    trustProxy: typeof config.trustProxy === 'number' ? hopsOf(config.trustProxy) : config.trustProxy,
    // Fastify types this option generically; ours answers every route the same way.
    frameworkErrors: frameworkErrors(rendering) as NonNullable<FastifyServerOptions['frameworkErrors']>,
    clientErrorHandler,
  })
  limitConnectionsPerClient(app.server, config.trustProxy === false ? config.maxConnectionsPerClient : 0)
  const drain = drainConnectionsOnClose(app.server)
  app.addHook('preClose', async () => { drain.close() })
  if (ownsServices) app.addHook('onClose', async () => { await services.close() })

  // Hooks first, so every route below (the docs included) gets them.
  securityHeaders(app)
  // Hooks that never wait are written with `done`: an async one costs a promise and a microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (services.logger.isLevelEnabled('info')) {
      request.log.info({ method: request.method, url: safeUrlForLog(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
    }
    services.metrics.httpRequest({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode }, reply.elapsedTime / 1000)
    done()
  })
  // Load shedding: past EVENT_LOOP_LAG_LIMIT_MS of event-loop delay, 503 + Retry-After (health checks exempt).
  shedLoad(app, { lagLimitMs: config.eventLoopLagLimitMs, onShed: services.metrics.shed })
  const limits = { store: services.counterStore, userPerMin: config.rateLimitUserPerMin, clientPerMin: config.rateLimitClientPerMin, onLimited: services.metrics.rateLimited }
  limitClients(app, limits)
  errorHandling(app, rendering)
  // Cookies are parsed (their own onRequest hook) before the auth chain reads the session cookie.
  await app.register(fastifyCookie, { secret: services.cookieSecrets.map((secret) => secret.toString('base64url')) })
  // DNS-rebinding protection of the MCP endpoints comes before authentication.
  guardMcpOrigin(app, { publicUrl: config.publicUrl, allowedHosts: config.mcpAllowedHosts, allowedOrigins: config.corsAllowedOrigins })
  const browserSession = browserSessionStrategy(services.sessions, cookieSettings(config.publicUrl), config.publicUrl)
  // Relay-issued tokens first: the Entra strategy would refuse a DPoP scheme or an opaque token as malformed.
  authChain(app, { strategies: [relayTokenStrategy(services.agentAuth.verifier), entraBearerStrategy(services.validateAccessToken), browserSession] })
  limitUsers(app, limits)
  // RFC 9449 §8.2: a fresher nonce with every answer to a DPoP caller whose nonce is about to age out.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.caller?.dpopNonce !== undefined) reply.header('dpop-nonce', request.caller.dpopNonce)
    done(null, payload)
  })
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
          relayToken: {
            type: 'oauth2',
            description: 'A token of the relay\'s own authorization server (resource <PUBLIC_URL>/v1), sent as "DPoP <token>" with a DPoP proof when DPoP-bound, else as Bearer',
            flows: {
              authorizationCode: {
                authorizationUrl: new URL('/oauth/authorize', config.publicUrl).href,
                tokenUrl: new URL('/oauth/token', config.publicUrl).href,
                refreshUrl: new URL('/oauth/token', config.publicUrl).href,
                scopes: AGENT_SCOPES,
              },
            },
          },
        },
      },
    },
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: (header) => docsCsp(header, config.publicUrl) })

  // From here on every route says how it authenticates.
  requireRouteAuth(app)
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger())
  if (config.metricsBearerToken !== undefined) {
    // Normally /metrics has its own port (METRICS_PORT); this serves it on the public one to holders of the bearer.
    const expected = Buffer.from(`Bearer ${config.metricsBearerToken}`)
    app.get('/metrics', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) => {
      const presented = Buffer.from(request.headers.authorization ?? '')
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw relayError('credentials_missing', 'The metrics bearer is required.')
      return reply.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics())
    })
  }
  await app.register(opsRoutes, { readinessChecks: services.readinessChecks })
  await app.register(wellKnownRoutes, {
    publicUrl: config.publicUrl,
    // The relay's own authorization server first (mode B), then the Entra issuers whose tokens it accepts (mode A).
    authorizationServers: [config.publicUrl.origin, ...services.entraIssuers],
    scopes: Object.keys(AGENT_SCOPES),
    relayScope: config.relayScope,
    mcpServerIds: services.registry.list().map((server) => server.id),
  })
  const { agentAuth } = services
  const interaction = agentInteractionRoutes({
    provider: agentAuth.provider,
    grants: agentAuth.grants,
    signIn: services.signIn,
    cookies: cookieSettings(config.publicUrl),
    publicUrl: config.publicUrl,
    authorityOrigin: config.authorityHost.origin,
    pending: services.transientStore,
    keyring: createKeyring({ current: config.tokenEncryptionKey, previous: config.tokenEncryptionKeyPrevious, purpose: 'agent-pending-sign-in' }),
    csrfKey: deriveKey(config.tokenEncryptionKey, 'agent-consent-csrf'),
    browserAccount: async (request) => {
      const caller = await browserSession.optional(request).catch(() => undefined)
      return caller === undefined ? undefined : `${caller.user.tid}.${caller.user.oid}`
    },
    describeResource: (indicator) => describeResource(indicator, config.publicUrl, services.registry.list().map((server) => server.id)),
  })
  await app.register(authRoutes, { signIn: services.signIn, sessions: services.sessions, cookies: cookieSettings(config.publicUrl), publicUrl: config.publicUrl, continuations: interaction.continuations, loginUrl: (intent) => loginUrlFor(intent, config, undefined) })
  await app.register(oauthRoutes, { provider: agentAuth.provider, publicUrl: config.publicUrl, requestIds: agentAuth.requestIds })
  await app.register(interaction.routes)
  await app.register(agentAdminRoutes, { grants: agentAuth.grants, rotateSigningKeys: agentAuth.rotateSigningKeys, operatorApiToken: config.agentAuth.operatorApiToken })
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
  await app.register(mcpRoutes, { prefix: '/mcp', passthrough: services.passthrough, aggregate, streams: services.streamGuard, rendering, corsAllowedOrigins: config.corsAllowedOrigins, maxJsonDepth: config.maxJsonDepth })
  await app.register(homeRoutes, {
    browserCaller: async (request: FastifyRequest) => await browserSession.optional(request),
    discovery: services.discovery,
    grants: agentAuth.grants,
    endSession: async (request, reply) => { await endBrowserSession(services, request, reply, cookieSettings(config.publicUrl)) },
  })
  return app
}

/** Trust the nearest `hops` proxies (the form Fastify's types accept for a hop count). */
function hopsOf (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}

function cookieSettings (publicUrl: URL): { secure: boolean } {
  return { secure: publicUrl.protocol === 'https:' }
}

/** What a resource indicator reaches, in words, for the consent page. */
function describeResource (indicator: string, publicUrl: URL, serverIds: string[]): string {
  const path = indicator.startsWith(publicUrl.origin) ? indicator.slice(publicUrl.origin.length) : indicator
  if (path === '/v1') return `the relay's REST API: your MCP servers ${serverIds.join(', ')}`
  if (path === '/mcp') return `one MCP endpoint with the tools of all your MCP servers (${serverIds.join(', ')})`
  if (path.startsWith('/mcp/')) return `the MCP server ${path.slice(5)}`
  return indicator
}

/** Ends this browser's session (the page's "sign out everywhere" also does, after revoking every grant). */
async function endBrowserSession (services: Services, request: FastifyRequest, reply: FastifyReply, cookies: { secure: boolean }): Promise<void> {
  const sessionId = readSessionId(request, cookies)
  if (sessionId !== undefined) await services.sessions.destroy(sessionId)
  reply.clearCookie(cookieNames(cookies).session, cookieOptions(cookies, 0))
}
