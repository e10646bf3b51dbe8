// Composition: every framework-free service built in one place from the config. Each resource that must be
// closed is registered as it is created, and `close()` closes them in reverse order.
import type { Logger } from 'pino'
import type { Config } from './config/index.ts'
import { SessionService } from './caller/browser-sessions.ts'
import { createInboundTokenValidator, entraIssuer, inboundTokenOptionsFromConfig, type InboundTokenValidator } from './caller/entra-bearer.ts'
import { AudienceClaims } from './discovery/audience.ts'
import { ScopeDiscovery } from './discovery/scope-discovery.ts'
import { ServerRegistry } from './downstream/registry.ts'
import { MsalFactory } from './entra/msal.ts'
import { OboService } from './entra/obo.ts'
import { EntraSignIn } from './entra/sign-in.ts'
import { AggregateTools } from './gateway/aggregate.ts'
import { PassthroughProxy } from './gateway/passthrough.ts'
import { ToolWatch } from './gateway/tool-watch.ts'
import { SessionBindings } from './gateway/session-bindings.ts'
import { ToolFilter } from './gateway/tool-filter.ts'
import { McpClientPool } from './mcp/client-pool.ts'
import { ToolService } from './mcp/tool-service.ts'
import { createDispatcher, createFetch, type FetchLike } from './net/http-client.ts'
import { createSafeFetcher, type LookupFn } from './net/safe-fetch.ts'
import type { ReadinessCheck } from './routes/ops.ts'
import { createMemoryStore } from './stores/memory.ts'
import { createMemoryOboCache } from './stores/obo-cache.ts'
import { createSealer, deriveKey } from './stores/sealed.ts'
import type { Store } from './stores/types.ts'

export interface ServiceDeps {
  config: Config
  logger: Logger
  /** Outbound HTTP (Entra, JWKS, MCP servers); default: undici with the system roots + TRUSTED_CA_FILE. */
  fetch?: FetchLike
  store?: Store
  /** DNS resolver for scope discovery (tests inject one to prove SSRF refusals without connecting). */
  discoveryLookup?: LookupFn
  now?: () => number
}

export interface Services {
  config: Config
  logger: Logger
  store: Store
  msal: MsalFactory
  obo: OboService
  sessions: SessionService
  signIn: EntraSignIn
  validateAccessToken: InboundTokenValidator
  registry: ServerRegistry
  discovery: ScopeDiscovery
  pool: McpClientPool
  tools: ToolService
  /** TOOL_FILTERS, for `/v1`, `/mcp/:server` and `/mcp`. */
  toolFilter: ToolFilter
  /** Which user opened each MCP session (in the store). */
  sessionBindings: SessionBindings
  passthrough: PassthroughProxy
  /** The aggregated `/mcp`'s tools (framework-free); the endpoint is built with the app's login URLs. */
  aggregateTools: AggregateTools
  /** Downstream tool-list changes for the clients listening on `/mcp`. */
  toolWatch: ToolWatch
  /** Entra issuers whose tokens the relay accepts (mode A), for the relay's PRM. */
  entraIssuers: string[]
  readinessChecks: ReadinessCheck[]
  cookieSecret: Buffer
  close: () => Promise<void>
}

export async function createServices (deps: ServiceDeps): Promise<Services> {
  const { config, logger } = deps
  if (config.redisUrl !== undefined && deps.store === undefined) {
    // Refuse rather than run replicas on per-process state: sessions and single-use state would diverge.
    throw new Error('REDIS_URL is set, but this version has only the in-memory store; unset REDIS_URL and run one replica')
  }
  const closers: Array<() => Promise<void>> = []
  const own = <T>(resource: T, close: (r: T) => Promise<void>): T => {
    closers.push(async () => { await close(resource) })
    return resource
  }
  const now = deps.now === undefined ? {} : { now: deps.now }

  const dispatcher = deps.fetch === undefined ? own(createDispatcher({ trustedCaPem: config.trustedCaPem }), (d) => d.close()) : undefined
  const fetch = deps.fetch ?? createFetch(dispatcher as NonNullable<typeof dispatcher>)
  const store = own(deps.store ?? createMemoryStore(), (s) => s.close())
  // Single-use markers written by unauthenticated callers live apart: they can never evict a session.
  const redeemed = own(createMemoryStore({ maxEntries: 50_000 }), (s) => s.close())

  const msal = new MsalFactory({ config, fetch, logger })
  const obo = new OboService({ msal, cache: createMemoryOboCache(config.oboCacheMaxEntries), logger, ...now })
  const sessions = new SessionService({
    store,
    sealer: createSealer(deriveKey(config.tokenEncryptionKey, 'msal-cache')),
    msal,
    relayScope: config.relayScope,
    allowedTenants: config.allowedTenants,
    logger,
    ...now,
  })

  const registry = new ServerRegistry(config.mcpServers)
  const fetcher = own(createSafeFetcher({
    allowInsecureLoopback: config.allowInsecureLoopback,
    loopbackOrigins: config.mcpServers.map(({ url }) => `${url.hostname.replace(/^\[|\]$/g, '')}:${url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port}`),
    allowedHosts: config.discoveryAllowedHosts,
    trustedCaPem: config.trustedCaPem,
    ...(deps.discoveryLookup === undefined ? {} : { lookup: deps.discoveryLookup }),
  }), (f) => f.close())
  const discovery = new ScopeDiscovery({
    servers: registry.list(),
    fetcher,
    authorityHost: config.authorityHost,
    allowedTenants: config.allowedTenants,
    audiencePolicy: { relayAudiences: config.relayAudiences, allowedResources: config.discoveryAllowedResources },
    claims: new AudienceClaims(store, registry.list()),
    prmCacheTtlSec: config.prmCacheTtlSec,
    logger,
    ...now,
  })
  const signIn = new EntraSignIn({
    msal,
    relayScope: config.relayScope,
    redirectUri: config.redirectUri.href,
    allowedTenants: config.allowedTenants,
    consentableScopes: () => discovery.status().flatMap((server) => server.status === 'ok' ? server.scopes : []),
    redeemed,
    sealer: createSealer(deriveKey(config.tokenEncryptionKey, 'login-transaction')),
    ...now,
  })
  const pool = own(new McpClientPool({ fetch, logger, maxResponseBytes: config.downstreamMaxResponseBytes, closeTimeoutMs: Math.min(config.downstreamTimeoutMs, 5_000) }), (p) => p.close())
  const tools = new ToolService({ registry, discovery, obo, pool, logger, fetch, timeoutMs: config.downstreamTimeoutMs, maxResponseBytes: config.downstreamMaxResponseBytes })

  const toolFilter = new ToolFilter(config.toolFilters)
  const sessionBindings = new SessionBindings(store, config.mcpSessionTtlSec * 1000, deps.now)
  // Its own connection pool, kept alive: the pass-through is the hot path (benchmarked against a plain proxy).
  const gatewayDispatcher = own(createDispatcher({ trustedCaPem: config.trustedCaPem }), (d) => d.close())
  const passthrough = new PassthroughProxy({
    registry,
    discovery,
    obo,
    bindings: sessionBindings,
    filter: toolFilter,
    dispatcher: gatewayDispatcher,
    logger,
    headersTimeoutMs: config.downstreamTimeoutMs,
    idleTimeoutMs: config.streamIdleTimeoutMs,
    totalTimeoutMs: config.streamTotalTimeoutMs,
    keepAliveMs: config.sseKeepAliveMs,
    maxResponseBytes: config.downstreamMaxResponseBytes,
  })

  const aggregateTools = new AggregateTools({ registry, tools, filter: toolFilter, separator: config.toolNameSeparator, logger })
  const toolWatch = new ToolWatch({ registry, discovery, obo, tools, fetch, maxResponseBytes: config.downstreamMaxResponseBytes, timeoutMs: config.downstreamTimeoutMs, logger })

  // Audiences are claimed in configuration order before any request may claim one.
  discovery.start().catch(() => {})

  return {
    config,
    logger,
    store,
    msal,
    obo,
    sessions,
    signIn,
    validateAccessToken: createInboundTokenValidator(inboundTokenOptionsFromConfig(config, fetch)),
    registry,
    discovery,
    pool,
    tools,
    toolFilter,
    sessionBindings,
    passthrough,
    aggregateTools,
    toolWatch,
    entraIssuers: config.allowedTenants.map((tid) => entraIssuer(config.authorityHost, tid)),
    readinessChecks: [
      { name: 'entra', check: async () => { await msal.probe() } },
      { name: 'store', check: async () => { await store.ping() } },
    ],
    cookieSecret: deriveKey(config.tokenEncryptionKey, 'cookie'),
    close: async () => {
      for (const close of closers.reverse()) await close().catch((err: unknown) => logger.warn({ err }, 'closing a service failed'))
    },
  }
}
