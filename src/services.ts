// Composition: every framework-free service built in one place from the config. Each resource that must be
// closed is registered as it is created, and `close()` closes them in reverse order.
import type { Logger } from 'pino'
import { createAgentAuth, type AgentAuth } from './agent-auth/index.ts'
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
import { StreamGuard } from './gateway/stream-guard.ts'
import { ToolFilter } from './gateway/tool-filter.ts'
import { McpClientPool } from './mcp/client-pool.ts'
import { ToolService } from './mcp/tool-service.ts'
import type { Dispatcher } from 'undici'
import { createDispatcher, createFetch, type FetchLike } from './net/http-client.ts'
import { createSafeFetcher, type LookupFn } from './net/safe-fetch.ts'
import type { ReadinessCheck } from './routes/ops.ts'
import { createMemoryStore } from './stores/memory.ts'
import { createMemoryOboCache, createStoreOboCache } from './stores/obo-cache.ts'
import { createRedisStore, type RedisStoreOptions } from './stores/redis.ts'
import { SharedFlight } from './stores/shared-flight.ts'
import { createMetrics, type Metrics } from './observability/metrics.ts'
import { createKeyring, deriveKey } from './crypto/keyring.ts'
import type { Store } from './stores/types.ts'

export interface ServiceDeps {
  config: Config
  logger: Logger
  /** Outbound HTTP (Entra, JWKS, MCP servers); default: undici with the system roots + TRUSTED_CA_FILE. */
  fetch?: FetchLike
  store?: Store
  /** Short-lived unauthenticated state (default: a bounded memory store; replicas pass the shared one). */
  transientStore?: Store
  /** Connections to MCP servers (the gateway's and the REST API's); tests wrap one to count what the relay reads. */
  mcpDispatcher?: Dispatcher
  /** DNS resolver for scope discovery (tests inject one to prove SSRF refusals without connecting). */
  discoveryLookup?: LookupFn
  now?: () => number
}

export interface Services {
  config: Config
  logger: Logger
  metrics: Metrics
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
  /** Open /mcp* requests, ended with their credential. */
  streamGuard: StreamGuard
  /** Entra issuers whose tokens the relay accepts (mode A), for the relay's PRM. */
  entraIssuers: string[]
  readinessChecks: ReadinessCheck[]
  /** Signs the session cookie with the first (TOKEN_ENCRYPTION_KEY), accepts the previous key's too (rotation). */
  cookieSecrets: Buffer[]
  /** The agent-facing authorization server (mode B): oidc-provider, agent grants, relay-token verifier. */
  agentAuth: AgentAuth
  /** Unauthenticated, short-lived state (authorization server interactions, DPoP replay marks, pending sign-ins). */
  transientStore: Store
  /** Rate-limit counters (per address, per user, registrations per address): the shared store with replicas. */
  counterStore: Store
  close: () => Promise<void>
}

export async function createServices (deps: ServiceDeps): Promise<Services> {
  const { config, logger } = deps
  const closers: Array<() => Promise<void>> = []
  const own = <T>(resource: T, close: (r: T) => Promise<void>): T => {
    closers.push(async () => { await close(resource) })
    return resource
  }
  const now = deps.now === undefined ? {} : { now: deps.now }
  const keyring = (purpose: string, compress = false) => createKeyring({ current: config.tokenEncryptionKey, previous: config.tokenEncryptionKeyPrevious, purpose, compress })

  const dispatcher = deps.fetch === undefined ? own(createDispatcher({ trustedCaPem: config.trustedCaPem }), (d) => d.close()) : undefined
  const fetch = deps.fetch ?? createFetch(dispatcher as NonNullable<typeof dispatcher>)
  const metrics = createMetrics()
  const shared = config.redisUrl !== undefined || config.redisClusterNodes !== undefined
  const store = own(deps.store ?? (shared ? createRedisStore(redisOptions(config, logger)) : createMemoryStore()), (s) => s.close())
  /** With replicas, the shared store; alone, a bounded memory store of its own for one kind of state. */
  const storeApart = (maxEntries: number): Store => shared ? store : own(createMemoryStore({ maxEntries }), (s) => s.close())
  // What anonymous callers can create (redeemed sign-in states, agent interactions, PAR, device codes, DPoP
  // replay marks): alone, a bounded memory store apart from sessions, so no flood can evict one; with
  // replicas, the shared store (another replica must see a replay as one), where live keys are not evicted.
  const transientStore = deps.transientStore ?? storeApart(50_000)
  // Rate-limit counters, one per client address even before authentication: alone, a store of their own, so a
  // flood from many addresses evicts only other counters (never a session, a token or a replay mark).
  const counterStore = storeApart(100_000)
  // Which server holds which audience: alone, a store of its own that nothing else can fill (two claims per
  // configured server), so no pressure on the main store can evict a claim and free an audience for another server.
  const claimStore = storeApart(Math.max(1_000, 4 * config.mcpServers.length))

  const msal = new MsalFactory({ config, fetch, logger, onResponse: metrics.entraResponse })
  // With replicas the OBO cache and its single-flight live in the shared store (sealed), so one Entra call
  // serves every replica; alone, an in-process LRU is faster and holds the tokens nowhere else.
  const obo = new OboService({
    msal,
    logger,
    onResult: metrics.oboCache,
    ...(shared
      ? {
          cache: createStoreOboCache(store, keyring('obo-cache'), () => logger.warn('an OBO cache entry cannot be opened with the current keys: treated as a miss')),
          shared: new SharedFlight({ store, lockTtlMs: config.entraTimeoutMs + 5_000 }),
        }
      : { cache: createMemoryOboCache(config.oboCacheMaxEntries) }),
    ...now,
  })
  const sessions = new SessionService({
    store,
    keyring: keyring('msal-cache', true),
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
    claims: new AudienceClaims(claimStore, registry.list()),
    prmCacheTtlSec: config.prmCacheTtlSec,
    logger,
    exchange: async (user, scopes, options) => await obo.exchange(user, scopes, options),
    ...now,
  })
  const signIn = new EntraSignIn({
    msal,
    relayScope: config.relayScope,
    redirectUri: config.redirectUri.href,
    allowedTenants: config.allowedTenants,
    consentableScopes: () => discovery.status().flatMap((server) => server.status === 'ok' ? server.scopes : []),
    redeemed: transientStore,
    keyring: keyring('login-transaction'),
    ...now,
  })
  // Its own connection pool to MCP servers, kept alive: the pass-through and the REST API are the hot paths
  // (benchmarked against a plain proxy).
  const mcpDispatcher = deps.mcpDispatcher ?? own(createDispatcher({ trustedCaPem: config.trustedCaPem }), (d) => d.close())
  const pool = own(new McpClientPool({ dispatcher: mcpDispatcher, logger, closeTimeoutMs: Math.min(config.downstreamTimeoutMs, 5_000) }), (p) => p.close())
  metrics.observeMcpClients(() => pool.size)
  const tools = new ToolService({ registry, discovery, obo, pool, logger, fetch, timeoutMs: config.downstreamTimeoutMs, maxResponseBytes: config.downstreamMaxResponseBytes, onDownstream: metrics.downstream })

  // What anyone can make the authorization server store lives apart from tokens and grants (see agent-auth/adapter.ts).
  // Client ID metadata documents: its own SSRF-safe fetcher, reaching private addresses only for listed hosts.
  const clientMetadataFetcher = own(createSafeFetcher({
    allowInsecureLoopback: false,
    allowedHosts: config.agentAuth.clientMetadataAllowedHosts,
    trustedCaPem: config.trustedCaPem,
    maxBodyBytes: 5 * 1024,
    ...(deps.discoveryLookup === undefined ? {} : { lookup: deps.discoveryLookup }),
  }), (f) => f.close())
  let agentAuth: AgentAuth
  try {
    agentAuth = await createAgentAuth({ config, logger, stores: { durable: store, transient: transientStore, counters: counterStore }, msal, obo, pool, clientMetadataFetcher, ...now })
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => {})
    throw err
  }

  const toolFilter = new ToolFilter(config.toolFilters)
  const streamGuard = own(new StreamGuard({ recheckMs: config.streamRecheckMs, logger, ...(deps.now === undefined ? {} : { now: deps.now }) }), async (g) => { g.close() })
  metrics.observeOpenStreams(() => streamGuard.size)
  // A grant revoked here ends its open MCP streams at once (other replicas find out at their next sweep).
  agentAuth.grants.onRevoked((record) => { streamGuard.endGrant(record.grantId) })
  const sessionBindings = new SessionBindings(store, config.mcpSessionTtlSec * 1000, deps.now)
  const passthrough = new PassthroughProxy({
    registry,
    discovery,
    obo,
    bindings: sessionBindings,
    filter: toolFilter,
    dispatcher: mcpDispatcher,
    logger,
    headersTimeoutMs: config.downstreamTimeoutMs,
    idleTimeoutMs: config.streamIdleTimeoutMs,
    totalTimeoutMs: config.streamTotalTimeoutMs,
    keepAliveMs: config.sseKeepAliveMs,
    maxResponseBytes: config.downstreamMaxResponseBytes,
    onDownstream: metrics.downstream,
  })

  const aggregateTools = new AggregateTools({ registry, tools, filter: toolFilter, separator: config.toolNameSeparator, logger })
  const toolWatch = new ToolWatch({ registry, discovery, obo, tools, fetch, maxResponseBytes: config.downstreamMaxResponseBytes, timeoutMs: config.downstreamTimeoutMs, logger })

  // Audiences are claimed in configuration order before any request may claim one.
  discovery.start().catch(() => {})

  return {
    config,
    logger,
    metrics,
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
    streamGuard,
    sessionBindings,
    passthrough,
    aggregateTools,
    toolWatch,
    entraIssuers: config.allowedTenants.map((tid) => entraIssuer(config.authorityHost, tid)),
    readinessChecks: [
      { name: 'entra', check: async () => { await msal.probe() } },
      { name: 'store', check: async () => { await store.ping() } },
    ],
    cookieSecrets: [config.tokenEncryptionKey, config.tokenEncryptionKeyPrevious].filter((key) => key !== undefined).map((key) => deriveKey(key, 'cookie')),
    agentAuth,
    transientStore,
    counterStore,
    close: async () => {
      for (const close of closers.reverse()) await close().catch((err: unknown) => logger.warn({ err }, 'closing a service failed'))
    },
  }
}

function redisOptions (config: Config, logger: Logger): RedisStoreOptions {
  const onConnectionError = (err: Error): void => { logger.warn({ err: { message: err.message } }, 'redis connection error') }
  if (config.redisClusterNodes !== undefined) return { clusterNodes: config.redisClusterNodes, keyPrefix: 'obo-relay:', onConnectionError }
  return { url: config.redisUrl as string, keyPrefix: 'obo-relay:', onConnectionError }
}
