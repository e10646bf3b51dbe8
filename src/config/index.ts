// The only module that reads process.env: every setting is parsed and validated here, once, at start.
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { ConfigError, envReader, type Env } from './env.ts'
import { parseMcpServers, type McpServerConfig } from './mcp-servers.ts'
import { parseAgentAuthConfig, type AgentAuthConfig } from './agent-auth.ts'

export { ConfigError } from './env.ts'
export type { McpServerConfig } from './mcp-servers.ts'
export type { AgentAuthConfig, ResourceServerClient } from './agent-auth.ts'
import { parseToolFilters, type ToolFilterRule } from './tool-filters.ts'
export type { ToolFilterRule } from './tool-filters.ts'
export { parseServerList } from './mcp-servers.ts'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export type ClientCredential =
  | { kind: 'secret', secret: string }
  | { kind: 'certificate', path: string, pem: string }

/** Fastify's `trustProxy`: off, every hop, a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxy = false | true | number | string[]

export interface Config {
  tenantId: string
  clientId: string
  clientCredential: ClientCredential
  redirectUri: URL
  /** The relay's own API scope (the user signs in for it; inbound tokens must carry it). */
  relayScope: string
  /** Accepted `aud` values of inbound tokens: client id and App ID URI. */
  relayAudiences: string[]
  mcpServers: McpServerConfig[]
  publicUrl: URL
  host: string
  port: number
  authorityHost: URL
  allowedTenants: string[]
  allowedAzp: string[] | undefined
  redisUrl: string | undefined
  /** A Redis Cluster instead of one node (`host:port` seeds). */
  redisClusterNodes: Array<{ host: string, port: number }> | undefined
  /** 32-byte key for AES-256-GCM at rest and for deriving the cookie key. */
  tokenEncryptionKey: Buffer
  /** The key before the last rotation: values sealed under it still open, and are re-sealed when rewritten. */
  tokenEncryptionKeyPrevious: Buffer | undefined
  tokenEncryptionKeyGenerated: boolean
  logLevel: LogLevel
  trustedCaFile: string | undefined
  trustedCaPem: string | undefined
  downstreamTimeoutMs: number
  /** Bytes the relay reads of one downstream answer, and of one SSE event; beyond → abort, 502. */
  downstreamMaxResponseBytes: number
  /** Each call to Entra's token endpoint gives up after this long (→ 503). */
  entraTimeoutMs: number
  prmCacheTtlSec: number
  oboCacheMaxEntries: number
  /** Hosts whose private/loopback addresses discovery may reach (besides loopback in dev). */
  discoveryAllowedHosts: string[]
  /** Resources besides `api://…` and the server's own URL that a server's PRM may name. */
  discoveryAllowedResources: string[]
  /** http:// PRM and MCP URLs are accepted for loopback hosts only when this is on (dev stack, tests). */
  allowInsecureLoopback: boolean
  /** Time to receive a whole request (headers and body) from a client. */
  requestTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  /** A socket with no traffic for this long is closed (streams send keep-alive comments well within it). */
  connectionTimeoutMs: number
  /** Open connections one client address may hold (0: no limit); off behind a trusted proxy. */
  maxConnectionsPerClient: number
  trustProxy: TrustProxy
  /** Origins that may call the CORS-enabled routes (agent authorization server, /mcp) from a browser. */
  corsAllowedOrigins: string[]
  /** Nesting depth a JSON request body may have (400 beyond). */
  maxJsonDepth: number
  /** Port of the Prometheus endpoint, apart from the public one (0: a free port; -1: not served). */
  metricsPort: number
  /** When set, `/metrics` is also served on the public port to a caller presenting this bearer. */
  metricsBearerToken: string | undefined
  /** Requests per minute one signed-in user may make (0: no limit). */
  rateLimitUserPerMin: number
  /** Requests per minute one client address may make (0: no limit); which address counts follows TRUST_PROXY. */
  rateLimitClientPerMin: number
  /** Event-loop delay beyond which requests are shed with 503 (health endpoints exempt). */
  eventLoopLagLimitMs: number
  /** After SIGTERM, open requests and streams get this long before the process exits. */
  shutdownDrainMs: number
  /** The agent-facing authorization server (`/oauth`). */
  agentAuth: AgentAuthConfig
  /** Between a server id and a tool name on the aggregated `/mcp` (`notes__whoami`). */
  toolNameSeparator: string
  /** Which tools each identity may see and call (TOOL_FILTERS), on `/mcp`, `/mcp/:server` and `/v1`. */
  toolFilters: ToolFilterRule[]
  /** A gateway stream on which the MCP server sends nothing for this long is closed. */
  streamIdleTimeoutMs: number
  /** Longest a request's answer may stream; GET streams and `subscriptions/listen` are exempt. */
  streamTotalTimeoutMs: number
  /** How often an open MCP stream re-checks its credential (revoked, signed out, expired → the stream ends). */
  streamRecheckMs: number
  /** Interval of SSE keep-alive comments the gateway writes to its clients. */
  sseKeepAliveMs: number
  /** An MCP session not used for this long is forgotten (its id then answers 404). */
  mcpSessionTtlSec: number
  /** `Host` values the MCP endpoints accept (DNS-rebinding protection); default the host of PUBLIC_URL. */
  mcpAllowedHosts: string[]
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Parses and validates the environment; throws one ConfigError naming every bad variable. */
export function loadConfig (env: Env = process.env): Config {
  const r = envReader(env)
  const { problems, get } = r

  const tenantId = r.required('TENANT_ID', 'the Entra tenant id (a GUID), or "organizations" with ALLOWED_TENANTS')
  if (tenantId !== '' && !GUID.test(tenantId) && tenantId !== 'organizations') {
    problems.push(`TENANT_ID must be a tenant GUID or "organizations" (got "${tenantId}")`)
  }
  const clientId = r.required('CLIENT_ID', "the relay's app registration (client) id, a GUID")
  if (clientId !== '' && !GUID.test(clientId)) problems.push(`CLIENT_ID must be a GUID (got "${clientId}")`)

  const clientCredential = readCredential(get, problems)

  const port = r.integer('PORT', 8080, 0, 65535)
  const host = get('HOST') ?? '0.0.0.0'
  const publicUrl = r.url('PUBLIC_URL', get('PUBLIC_URL') ?? `http://localhost:${port}`, 'an absolute http(s) URL where clients reach the relay') ??
    new URL(`http://localhost:${port}`)
  if (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '') {
    problems.push(`PUBLIC_URL must be an origin without path, query or fragment (got "${publicUrl.href}")`)
  }
  const redirectUri = r.url('REDIRECT_URI', get('REDIRECT_URI') ?? new URL('/auth/callback', publicUrl).href,
    "an absolute URL registered on the relay's app, normally <PUBLIC_URL>/auth/callback") ?? new URL('/auth/callback', publicUrl)

  const relayScope = r.required('SCOPE', "the relay's own API scope, e.g. api://<CLIENT_ID>/user_impersonation")
  const relayAudiences = [clientId]
  if (relayScope !== '') {
    const slash = relayScope.lastIndexOf('/')
    if (slash <= 0 || slash === relayScope.length - 1 || relayScope.includes(' ')) {
      problems.push(`SCOPE must be one scope of the relay's API, e.g. api://<CLIENT_ID>/user_impersonation (got "${relayScope}")`)
    } else {
      const appIdUri = relayScope.slice(0, slash)
      if (appIdUri !== clientId) relayAudiences.push(appIdUri)
    }
  }
  // The default App ID URI names the relay too, even when SCOPE uses another one the registration also carries:
  // no server's PRM may name it (it would receive a token for the relay), and a token for it is the relay's.
  if (clientId !== '' && !relayAudiences.includes(`api://${clientId}`)) relayAudiences.push(`api://${clientId}`)

  const authorityHost = r.url('AUTHORITY_HOST', get('AUTHORITY_HOST') ?? 'https://login.microsoftonline.com', 'the Entra authority origin, e.g. https://login.microsoftonline.com') ??
    new URL('https://login.microsoftonline.com')
  if (authorityHost.protocol !== 'https:') problems.push('AUTHORITY_HOST must use https')

  const allowedTenants = r.list('ALLOWED_TENANTS') ?? (GUID.test(tenantId) ? [tenantId] : [])
  for (const t of allowedTenants) if (!GUID.test(t)) problems.push(`ALLOWED_TENANTS must be tenant GUIDs separated by commas (got "${t}")`)
  if (allowedTenants.length === 0 && tenantId === 'organizations') problems.push('ALLOWED_TENANTS is required when TENANT_ID is "organizations"')

  const mcpServers = parseMcpServers(r)

  const redisUrl = get('REDIS_URL')
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL')
  const redisClusterNodes = r.list('REDIS_CLUSTER_NODES')?.map((entry) => {
    const match = /^([\w.-]+|\[[0-9a-f:]+\]):(\d{1,5})$/i.exec(entry)
    if (match === null) problems.push(`REDIS_CLUSTER_NODES must be host:port entries separated by commas (got "${entry}")`)
    return { host: (match?.[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match?.[2] ?? 0) }
  })
  if (redisUrl !== undefined && redisClusterNodes !== undefined) problems.push('Set only one of REDIS_URL and REDIS_CLUSTER_NODES')
  const sharedStore = redisUrl !== undefined || redisClusterNodes !== undefined

  const readKey = (name: string): Buffer | undefined => {
    const raw = get(name)
    if (raw === undefined) return undefined
    const decoded = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64')
    if (decoded.length === 32) return decoded
    problems.push(`${name} must be 32 random bytes, base64 or hex encoded (e.g. \`openssl rand -base64 32\`)`)
    return undefined
  }
  const configuredKey = readKey('TOKEN_ENCRYPTION_KEY')
  const tokenEncryptionKey = configuredKey ?? randomBytes(32)
  const tokenEncryptionKeyGenerated = configuredKey === undefined
  const tokenEncryptionKeyPrevious = readKey('TOKEN_ENCRYPTION_KEY_PREVIOUS')
  if (tokenEncryptionKeyPrevious !== undefined && get('TOKEN_ENCRYPTION_KEY') === undefined) {
    problems.push('TOKEN_ENCRYPTION_KEY_PREVIOUS needs TOKEN_ENCRYPTION_KEY (the new key) as well')
  }
  if (get('TOKEN_ENCRYPTION_KEY') === undefined && sharedStore) {
    problems.push('TOKEN_ENCRYPTION_KEY is required with REDIS_URL or REDIS_CLUSTER_NODES: every replica must share it (e.g. `openssl rand -base64 32`)')
  }

  const logLevel = (get('LOG_LEVEL') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`)

  const trustedCaFile = get('TRUSTED_CA_FILE')
  let trustedCaPem: string | undefined
  if (trustedCaFile !== undefined) {
    try {
      trustedCaPem = readFileSync(trustedCaFile, 'utf8')
      if (!trustedCaPem.includes('BEGIN CERTIFICATE')) problems.push(`TRUSTED_CA_FILE must be a PEM certificate file (${trustedCaFile})`)
    } catch {
      problems.push(`TRUSTED_CA_FILE cannot be read (${trustedCaFile})`)
    }
  }

  const corsAllowedOrigins = (r.list('CORS_ALLOWED_ORIGINS') ?? []).map((origin) => {
    const parsed = r.url('CORS_ALLOWED_ORIGINS', origin, 'a comma-separated list of origins such as https://app.example')
    if (parsed !== undefined && parsed.origin !== origin.replace(/\/$/, '')) problems.push(`CORS_ALLOWED_ORIGINS must list origins without path (got "${origin}")`)
    return parsed?.origin ?? origin
  })
  const trustProxy = parseTrustProxy(get('TRUST_PROXY'), problems)

  const config: Config = {
    tenantId,
    clientId,
    clientCredential,
    redirectUri,
    relayScope,
    relayAudiences,
    mcpServers,
    publicUrl,
    host,
    port,
    authorityHost,
    allowedTenants,
    allowedAzp: r.list('ALLOWED_AZP'),
    redisUrl,
    redisClusterNodes,
    tokenEncryptionKey,
    tokenEncryptionKeyPrevious,
    tokenEncryptionKeyGenerated,
    logLevel,
    trustedCaFile,
    trustedCaPem,
    downstreamTimeoutMs: r.integer('DOWNSTREAM_TIMEOUT_MS', 30_000, 100, 600_000),
    downstreamMaxResponseBytes: r.integer('DOWNSTREAM_MAX_RESPONSE_BYTES', 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    entraTimeoutMs: r.integer('ENTRA_TIMEOUT_MS', 10_000, 100, 120_000),
    prmCacheTtlSec: r.integer('PRM_CACHE_TTL_SEC', 3600, 0, 86_400),
    oboCacheMaxEntries: r.integer('OBO_CACHE_MAX_ENTRIES', 10_000, 10, 10_000_000),
    discoveryAllowedHosts: r.list('DISCOVERY_ALLOWED_HOSTS') ?? [],
    discoveryAllowedResources: r.list('DISCOVERY_ALLOWED_RESOURCES') ?? [],
    allowInsecureLoopback: r.flag('ALLOW_INSECURE_LOOPBACK', false),
    requestTimeoutMs: r.integer('REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000),
    headersTimeoutMs: r.integer('HEADERS_TIMEOUT_MS', 10_000, 1_000, 120_000),
    keepAliveTimeoutMs: r.integer('KEEP_ALIVE_TIMEOUT_MS', 65_000, 1_000, 600_000),
    connectionTimeoutMs: r.integer('CONNECTION_TIMEOUT_MS', 120_000, 5_000, 3_600_000),
    maxConnectionsPerClient: r.integer('MAX_CONNECTIONS_PER_CLIENT', 256, 0, 1_000_000),
    trustProxy,
    corsAllowedOrigins,
    maxJsonDepth: r.integer('MAX_JSON_DEPTH', 64, 4, 1024),
    metricsPort: r.integer('METRICS_PORT', 9464, -1, 65535),
    metricsBearerToken: get('METRICS_BEARER_TOKEN'),
    rateLimitUserPerMin: r.integer('RATE_LIMIT_USER_PER_MIN', 1200, 0, 1_000_000),
    rateLimitClientPerMin: r.integer('RATE_LIMIT_CLIENT_PER_MIN', 6000, 0, 1_000_000),
    eventLoopLagLimitMs: r.integer('EVENT_LOOP_LAG_LIMIT_MS', 1000, 10, 60_000),
    shutdownDrainMs: r.integer('SHUTDOWN_DRAIN_MS', 10_000, 0, 600_000),
    agentAuth: parseAgentAuthConfig(r),
    toolNameSeparator: get('TOOL_NAME_SEPARATOR') ?? '__',
    toolFilters: parseToolFilters(r),
    streamIdleTimeoutMs: r.integer('STREAM_IDLE_TIMEOUT_MS', 300_000, 1_000, 86_400_000),
    streamTotalTimeoutMs: r.integer('STREAM_TOTAL_TIMEOUT_MS', 900_000, 1_000, 86_400_000),
    streamRecheckMs: r.integer('STREAM_RECHECK_MS', 30_000, 100, 3_600_000),
    sseKeepAliveMs: r.integer('SSE_KEEPALIVE_MS', 15_000, 100, 600_000),
    mcpSessionTtlSec: r.integer('MCP_SESSION_TTL_SEC', 3600, 60, 7 * 86_400),
    mcpAllowedHosts: (r.list('MCP_ALLOWED_HOSTS') ?? defaultMcpHosts(publicUrl)).map((host) => host.toLowerCase()),
  }
  if (config.metricsBearerToken !== undefined && config.metricsBearerToken.length < 16) problems.push('METRICS_BEARER_TOKEN must be at least 16 characters')
  if (!/^[A-Za-z0-9_.-]{1,8}$/.test(config.toolNameSeparator)) problems.push('TOOL_NAME_SEPARATOR must be 1 to 8 of the characters A-Z a-z 0-9 _ . - (tool names allow no others)')
  if (config.sseKeepAliveMs >= config.connectionTimeoutMs) problems.push('SSE_KEEPALIVE_MS must be shorter than CONNECTION_TIMEOUT_MS, or idle streams are cut')
  // Node checks headers only once they all arrived: the headers timeout must fit inside the request timeout.
  if (config.headersTimeoutMs > config.requestTimeoutMs) problems.push('HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS')
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** The host of PUBLIC_URL; on loopback also its other loopback spellings (localhost, 127.0.0.1, [::1]). */
function defaultMcpHosts (publicUrl: URL): string[] {
  const loopback = ['localhost', '127.0.0.1', '[::1]']
  if (!loopback.includes(publicUrl.hostname)) return [publicUrl.host]
  return loopback.map((hostname) => publicUrl.port === '' ? hostname : `${hostname}:${publicUrl.port}`)
}

function readCredential (get: (name: string) => string | undefined, problems: string[]): ClientCredential {
  const secret = get('CLIENT_SECRET')
  const certPath = get('CLIENT_CERTIFICATE_PATH')
  if (secret !== undefined && certPath !== undefined) {
    problems.push('Set only one of CLIENT_SECRET and CLIENT_CERTIFICATE_PATH')
  } else if (secret !== undefined) {
    return { kind: 'secret', secret }
  } else if (certPath !== undefined) {
    try {
      const pem = readFileSync(certPath, 'utf8')
      if (!pem.includes('PRIVATE KEY-----') || !pem.includes('BEGIN CERTIFICATE-----')) {
        problems.push(`CLIENT_CERTIFICATE_PATH must be a PEM file holding the certificate and its private key (${certPath})`)
      }
      return { kind: 'certificate', path: certPath, pem }
    } catch {
      problems.push(`CLIENT_CERTIFICATE_PATH cannot be read (${certPath})`)
    }
  } else {
    problems.push('CLIENT_SECRET or CLIENT_CERTIFICATE_PATH is required: the relay is a confidential client')
  }
  return { kind: 'secret', secret: '' }
}

/** `TRUST_PROXY`: unset/false, true (every hop: only behind a proxy that overwrites X-Forwarded-For), a hop count, or addresses/CIDRs. */
function parseTrustProxy (raw: string | undefined, problems: string[]): TrustProxy {
  if (raw === undefined || raw === 'false') return false
  if (raw === 'true') return true
  if (/^\d+$/.test(raw)) return Number(raw)
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean)
  for (const entry of entries) {
    const [address, prefix] = entry.split('/')
    if (address === undefined || isIP(address) === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      problems.push(`TRUST_PROXY must be false, true, a hop count, or proxy addresses/CIDRs separated by commas (got "${entry}")`)
    }
  }
  return entries
}
