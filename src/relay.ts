// Wires the relay's services from config: the one place that constructs clients, stores and routes.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { buildApp } from './app.ts'
import { createAuthenticator } from './auth/authenticate.ts'
import { loginRoutes } from './auth/login-routes.ts'
import { SessionService } from './auth/sessions.ts'
import type { LookupFn } from './discovery/safe-fetch.ts'
import { createScopeDiscovery, type ScopeDiscovery, type ServerDiscoveryStatus } from './discovery/scope-discovery.ts'
import { createInboundTokenValidator, entraIssuer, inboundTokenOptionsFromConfig } from './entra/inbound-token.ts'
import { MsalFactory } from './entra/msal.ts'
import { OboService } from './entra/obo.ts'
import { McpClientPool } from './mcp/client-pool.ts'
import { ToolService } from './mcp/tool-service.ts'
import { createDispatcher, createFetch, type FetchLike } from './net/http-client.ts'
import { homeRoutes } from './routes/home.ts'
import { v1Routes } from './routes/v1.ts'
import { wellKnownRoutes } from './routes/well-known.ts'
import { createMemoryStore } from './stores/memory.ts'
import { createSealer, deriveKey } from './stores/sealed.ts'
import type { Store } from './stores/types.ts'

export interface RelayOptions {
  config: Config
  logger: Logger
  /** Outbound HTTP (Entra, JWKS, MCP servers); default: undici with the system roots + TRUSTED_CA_FILE. */
  fetch?: FetchLike
  store?: Store
  /** DNS resolver for scope discovery (tests inject one to prove SSRF refusals without connecting). */
  discoveryLookup?: LookupFn
  now?: () => number
}

export interface Relay {
  app: FastifyInstance
  obo: OboService
  discovery: ScopeDiscovery
  pool: McpClientPool
  close: () => Promise<void>
}

export async function createRelay (options: RelayOptions): Promise<Relay> {
  const { config, logger } = options
  if (config.redisUrl !== undefined && options.store === undefined) {
    // Refuse rather than run replicas on per-process state: sessions and single-use state would diverge.
    throw new Error('REDIS_URL is set, but this version has only the in-memory store; unset REDIS_URL and run one replica')
  }
  const dispatcher = options.fetch === undefined ? createDispatcher({ trustedCaPem: config.trustedCaPem }) : undefined
  const fetch = options.fetch ?? createFetch(dispatcher as NonNullable<typeof dispatcher>)
  const store = options.store ?? createMemoryStore()
  // Single-use markers written by unauthenticated callers live apart: they can never evict a session.
  const transientStore = createMemoryStore({ maxEntries: 50_000 })

  const loginUrl = (o: { claims?: string, prompt?: 'consent', consentScopes?: string[] } = {}): string => {
    const url = new URL('/auth/login', config.publicUrl)
    if (o.prompt !== undefined) url.searchParams.set('prompt', o.prompt)
    if (o.claims !== undefined) url.searchParams.set('claims', o.claims)
    if (o.consentScopes !== undefined) url.searchParams.set('consent_scopes', o.consentScopes.join(' '))
    return url.href
  }

  const msal = new MsalFactory({ config, fetch, logger })
  const obo = new OboService({ msal, logger, maxEntries: config.oboCacheMaxEntries, loginUrl, ...(options.now === undefined ? {} : { now: options.now }) })
  const sessions = new SessionService({
    store,
    sealer: createSealer(deriveKey(config.tokenEncryptionKey, 'msal-cache')),
    msal,
    relayScope: config.relayScope,
    allowedTenants: config.allowedTenants,
    logger,
    loginUrl,
  })
  const cookies = { secure: config.publicUrl.protocol === 'https:' }
  const authenticate = createAuthenticator({
    validateAccessToken: createInboundTokenValidator(inboundTokenOptionsFromConfig(config, fetch)),
    sessions,
    cookies,
    publicUrl: config.publicUrl,
    loginUrl: () => loginUrl(),
  })

  const { discovery, fetcher } = createScopeDiscovery(config, {
    logger,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.discoveryLookup === undefined ? {} : { lookup: options.discoveryLookup }),
  })
  const pool = new McpClientPool({ fetch, logger })
  const tools = new ToolService({ servers: config.mcpServers, discovery, obo, pool, logger, timeoutMs: config.downstreamTimeoutMs, loginUrl })

  const serverStatus = async (): Promise<ServerDiscoveryStatus[]> => {
    await Promise.allSettled(config.mcpServers.map(async (s) => await discovery.resolve(s.id)))
    return discovery.status()
  }

  const app = await buildApp({
    config,
    logger,
    cookieSecret: deriveKey(config.tokenEncryptionKey, 'cookie'),
    readinessChecks: [
      { name: 'entra', check: async () => { await msal.authorityMetadata() } },
      { name: 'store', check: async () => { await store.ping() } },
    ],
  })
  const authorizationServers = config.allowedTenants.map((tid) => entraIssuer(config.authorityHost, tid))
  await app.register(wellKnownRoutes, { publicUrl: config.publicUrl, authorizationServers, relayScope: config.relayScope, serverIds: config.mcpServers.map((s) => s.id) })
  await app.register(loginRoutes, {
    msal,
    sessions,
    transientStore,
    sealer: createSealer(deriveKey(config.tokenEncryptionKey, 'login-transaction')),
    allowedTenants: config.allowedTenants,
    consentableScopes: () => discovery.status().flatMap((server) => server.scopes),
    relayScope: config.relayScope,
    redirectUri: config.redirectUri.href,
    publicUrl: config.publicUrl,
    cookies,
    loginUrl
  })
  await app.register(v1Routes, { authenticate, tools, serverStatus })
  await app.register(homeRoutes, { authenticate, serverStatus })
  await app.ready()

  return {
    app,
    obo,
    discovery,
    pool,
    close: async () => {
      await app.close()
      await pool.close()
      await fetcher.close()
      await store.close()
      await transientStore.close()
      await dispatcher?.close()
    },
  }
}
